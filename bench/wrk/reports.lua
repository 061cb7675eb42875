-- POST /api/v1/mobile/reports as a grid worker: a new case each request (its own
-- Idempotency-Key), at the points of the worker's grids in turn.
-- Environment: BENCH_TOKEN (access token), BENCH_POINTS ("lon,lat;lon,lat;..."), BENCH_RUN.
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN") or "run"
local points = {}
for lon, lat in string.gmatch(os.getenv("BENCH_POINTS"), "([%d%.%-]+),([%d%.%-]+)") do
  points[#points + 1] = { lon, lat }
end
local threads = 0
local counter = 0
thread_id = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function request()
  counter = counter + 1
  local point = points[(counter % #points) + 1]
  local body = string.format(
    '{"category":"SJ0102","description":"基准测试 bench report %d: 人行道上有暴露垃圾, garbage on the sidewalk",'
      .. '"location":{"lon":%s,"lat":%s,"crs":"wgs84"},"address":"衡山县开云镇 bench street 1"}',
    counter, point[1], point[2])
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, thread_id, counter),
  }
  return wrk.format("POST", "/api/v1/mobile/reports", headers, body)
end

-- The first answer that is not 2xx, on stderr: why a run failed, without parsing every body.
local told = false
function response(status, headers, body)
  if status >= 300 and not told then
    told = true
    io.stderr:write(string.format("thread %d: %d %s\n", thread_id, status, body:sub(1, 300)))
  end
end
