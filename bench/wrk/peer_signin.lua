-- The full sign-in on the peer (node oidc-provider), as a browser does it: authorize -> sign-in
-- page (its interaction) -> form post (password, Argon2id) -> resume -> code -> token. Five
-- requests, one more than Lanyard's: oidc-provider takes the sign-in's result back through a
-- redirect to its resume endpoint, which then redirects with the code. Each thread (one
-- connection) loops through them as learner@demo.test, with no session cookie, so every flow
-- signs in afresh. Any answer the flow cannot go on with counts as a status error.
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
local authorize = os.getenv("BENCH_AUTHORIZE")
local form = "application/x-www-form-urlencoded"
local step, uid, action, resume, code = 1, nil, nil, nil, nil
flows, failed = 0, 0

-- wrk shows only the last Set-Cookie of an answer: the authorize step sets _interaction and then
-- _interaction_resume, both (unsigned, see server.mjs) holding the interaction id, which is also
-- in the Location; the script checks the one it sees and sends both as a browser would.
function request()
  if step == 1 then
    return wrk.format("GET", authorize)
  elseif step == 2 then
    return wrk.format("GET", "/interaction/" .. uid, { ["Cookie"] = "_interaction=" .. uid })
  elseif step == 3 then
    return wrk.format("POST", action, { ["Content-Type"] = form, ["Cookie"] = "_interaction=" .. uid },
      "login=learner%40demo.test&password=Lanyard-demo-pass-2026")
  elseif step == 4 then
    return wrk.format("GET", resume, { ["Cookie"] = "_interaction_resume=" .. uid })
  else
    return token_request(code)
  end
end

function response(status, headers, body)
  local ok = false
  local location = header(headers, "location") or ""
  if step == 1 and status == 303 then
    uid = location:match("^/interaction/([%w_-]+)$")
    local cookie = (header(headers, "set-cookie") or ""):match("^_interaction_resume=([^;]+)")
    ok = uid ~= nil and cookie == uid
  elseif step == 2 and status == 200 then
    action = body:match('<form method="post" action="([^"]+)"')
    ok = action ~= nil and body:find('name="password"', 1, true) ~= nil
  elseif step == 3 and status == 303 then
    resume = location:match("^https?://[^/]+(/authorize/[%w_-]+)$"); ok = resume ~= nil
  elseif step == 4 and (status == 303 or status == 302) then
    code = location:match("^http://127%.0%.0%.1:8088/callback%?code=([^&]+)"); ok = code ~= nil
  elseif step == 5 and status == 200 then
    ok = body:find('"access_token"', 1, true) ~= nil and body:find('"id_token"', 1, true) ~= nil
    if ok then flows = flows + 1 end
  end
  if not ok and status < 400 then failed = failed + 1 end
  step = ok and (step % 5) + 1 or 1
end
