-- A request with a bearer token (the admin API): GET by default; BENCH_METHOD, BENCH_BODY
-- (JSON) and BENCH_IF_MATCH when set. With BENCH_PEOPLE, each request goes to one of that many
-- bulk-made people at random (`{n}` in BENCH_PATH_TEMPLATE), as administrators' edits spread
-- over a tenant.
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
local people = tonumber(os.getenv("BENCH_PEOPLE") or "")
if people then
  local template = os.getenv("BENCH_PATH_TEMPLATE")
  function request()
    local path = template:gsub("{n}", string.format("%012d", math.random(1, people)))
    return wrk.format(nil, path)
  end
end
