-- The baseline: POST /hello with a JSON body the size of a report (bench/hello_app.py).
wrk.method = "POST"
wrk.path = "/hello"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"category":"SJ0102","description":"基准测试 bench report 0: 人行道上有暴露垃圾, garbage on the sidewalk","location":{"lon":112.7,"lat":27.2,"crs":"wgs84"},"address":"衡山县开云镇 bench street 1"}'
