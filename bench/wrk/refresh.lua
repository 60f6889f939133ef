-- refresh_token with rotation: each thread (one connection) owns a token family and always
-- presents the newest token it was given.
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
local all = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do table.insert(all, line) end

function setup_thread(thread)
  thread:set("token", all[#threads])
end

flows = 0
function request()
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=bench-app&refresh_token=" .. token)
end

function response(status, headers, body)
  if status == 200 then
    local t = body:match('"refresh_token":"([^"]+)"')
    if t then token = t; flows = flows + 1 end
  end
end
