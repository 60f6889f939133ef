-- A fixed form POST with HTTP Basic client authentication (client_credentials, introspection).
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
