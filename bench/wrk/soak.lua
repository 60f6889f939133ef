-- The soak mix, as a resource server and its apps use Lanyard: a client_credentials grant
-- (RS256), an introspection of an access token, the JWKS and the discovery document, in turn.
-- BENCH_DELAY_MS paces each connection to a chosen share of capacity (see common.lua).
dofile(os.getenv("BENCH_WRK") .. "/common.lua")
local form = "application/x-www-form-urlencoded"
local grant = os.getenv("BENCH_GRANT_BASIC")
local introspector = os.getenv("BENCH_INTROSPECT_BASIC")
local token = os.getenv("BENCH_TOKEN")
local step = 0
local expected = { '"access_token"', '"active":true', '"keys"', '"issuer"' }
failed = 0

function request()
  step = step % 4 + 1
  if step == 1 then
    return wrk.format("POST", "/token", { ["Content-Type"] = form, ["Authorization"] = "Basic " .. grant },
      "grant_type=client_credentials")
  elseif step == 2 then
    return wrk.format("POST", "/introspect", { ["Content-Type"] = form, ["Authorization"] = "Basic " .. introspector },
      "token=" .. token)
  elseif step == 3 then
    return wrk.format("GET", "/jwks")
  else
    return wrk.format("GET", "/.well-known/openid-configuration")
  end
end

-- Each answer must be one of the four successes (wrk asks for one request more than it sends at
-- the start, so answers cannot be matched to requests by counting).
function response(status, headers, body)
  if status >= 400 then return end
  for _, e in ipairs(expected) do
    if body and body:find(e, 1, true) then return end
  end
  failed = failed + 1
end
