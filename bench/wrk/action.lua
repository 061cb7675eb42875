-- POST /api/v1/cases/{id}/actions/{action}, each request on another case, with its version.
-- Environment: BENCH_TOKEN, BENCH_ACTION, BENCH_BODY (JSON), BENCH_CASES (a file of
-- "id version" lines), BENCH_THREADS. Thread n of N takes lines n, n + N, ...; a thread that
-- runs out starts over (those answers are 409: the bench checks it never happens).
local token = os.getenv("BENCH_TOKEN")
local action = os.getenv("BENCH_ACTION")
local body = os.getenv("BENCH_BODY")
local threads = 0
thread_id = 0
local cases = {}
local next_case = 1

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local total = tonumber(os.getenv("BENCH_THREADS"))
  local n = 0
  for line in io.lines(os.getenv("BENCH_CASES")) do
    if n % total == thread_id - 1 then
      local id, version = string.match(line, "(%d+) (%d+)")
      cases[#cases + 1] = { id, version }
    end
    n = n + 1
  end
end

function request()
  local case = cases[next_case]
  next_case = next_case % #cases + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["If-Match"] = '"' .. case[2] .. '"',
  }
  return wrk.format("POST", "/api/v1/cases/" .. case[1] .. "/actions/" .. action, headers, body)
end

-- The first answer that is not 2xx, on stderr: why a run failed, without parsing every body.
local told = false
function response(status, headers, body)
  if status >= 300 and not told then
    told = true
    io.stderr:write(string.format("thread %d: %d %s\n", thread_id, status, body:sub(1, 300)))
  end
end
