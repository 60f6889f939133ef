-- A request with a bearer token (the admin API): GET by default; BENCH_METHOD, BENCH_BODY
-- (JSON) and BENCH_IF_MATCH when set.
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER")
local body = os.getenv("BENCH_BODY")
if body then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local if_match = os.getenv("BENCH_IF_MATCH")
if if_match then wrk.headers["If-Match"] = if_match end
