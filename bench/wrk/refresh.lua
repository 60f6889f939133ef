-- refresh_token with rotation: each thread (one connection) owns a token family and always
-- presents the newest token it was given.
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
local all = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do table.insert(all, line) end

function setup_thread(thread)
  thread:set("token", all[#threads])
end

flows, failed = 0, 0
function request()
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=bench-app&refresh_token=" .. token)
end

function response(status, headers, body)
  local t = status == 200 and body:match('"refresh_token":"([^"]+)"')
  if t then
    token = t; flows = flows + 1
  elseif status < 400 then
    failed = failed + 1
  end
end
