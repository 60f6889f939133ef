-- The full sign-in, as a browser does it: authorize -> sign-in page -> form post (password,
-- Argon2id) -> code -> token. Each thread (one connection) loops through the four requests.
-- Each connection signs in as its own person, bench-learner-N (bench/realm.toml).
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
local authorize = os.getenv("BENCH_AUTHORIZE")
local form = "application/x-www-form-urlencoded"
local step, tx, csrf, cookie, code = 1, nil, nil, nil, nil
flows, busy, failed = 0, 0, 0
local wait = 0

function delay()
  local w = wait
  wait = 0
  return w
end

function request()
  if step == 1 then
    return wrk.format("GET", authorize)
  elseif step == 2 then
    return wrk.format("GET", "/login?tx=" .. tx, { ["Cookie"] = cookie })
  elseif step == 3 then
    return wrk.format("POST", "/login", { ["Content-Type"] = form, ["Cookie"] = cookie },
      "tx=" .. tx .. "&csrf=" .. csrf .. "&login=bench-learner-" .. ((id - 1) % 16 + 1) .. "%40demo.test&password=Lanyard-demo-pass-2026")
  else
    return token_request(code)
  end
end

function response(status, headers, body)
  local ok = false
  if step == 1 and status == 303 then
    -- The sign-in cookie binds the (sealed) transaction to this "browser".
    tx = (header(headers, "location") or ""):match("tx=([^&]+)")
    cookie = (header(headers, "set-cookie") or ""):match("(lanyard_signin=[^;]+)")
    ok = tx ~= nil and cookie ~= nil
  elseif step == 2 and status == 200 then
    csrf = body:match('name="csrf" value="([^"]+)"')
    ok = csrf ~= nil
  elseif step == 3 and status == 303 then
    code = (header(headers, "location") or ""):match("code=([^&]+)"); ok = code ~= nil
  elseif step == 4 and status == 200 then
    flows = flows + 1; ok = true
  elseif step == 3 and status == 503 and header(headers, "retry-after") then
    -- The hashing pool is full: refused at once with Retry-After (counted apart; wrk counts
    -- every 503 among its status errors).
    busy = busy + 1
    -- As a person would: wait as long as asked before starting again.
    wait = 1000 * (tonumber(header(headers, "retry-after")) or 1)
  end
  -- An answer wrk takes as fine (below 400) that the flow cannot go on with is a failure too.
  if not ok and status < 400 then failed = failed + 1 end
  step = ok and (step % 4) + 1 or 1
end
