-- Shared by every workload: remember the threads, and print one JSON summary line at the end
-- (requests, non-2xx/3xx answers, socket errors, latency percentiles, completed flows, answers
-- refused as busy with Retry-After). A script
-- may also count, in its `failed`, answers wrk took as fine but the flow could not go on with;
-- they are reported as status errors.
threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  if setup_thread then setup_thread(thread) end
end

-- Each thread (connection) draws its own pacing randoms.
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0) * 7919)
end

-- BENCH_EXPECT (if set): an answer below 400 whose body lacks this text counts as failed (an
-- error page or an empty token answer is not a success).
local expect = os.getenv("BENCH_EXPECT")
if expect then
  failed = 0
  function response(status, headers, body)
    if status < 400 and not (body and body:find(expect, 1, true)) then failed = failed + 1 end
  end
end

-- BENCH_DELAY_MS (fractional milliseconds, if set) is waited before each request of a
-- connection, to run below capacity. wrk waits whole milliseconds, so the fraction is spent as
-- one more millisecond that often, at random. (A script may define its own delay instead.)
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace then
  function delay()
    local whole = math.floor(pace)
    if math.random() < pace - whole then whole = whole + 1 end
    return whole
  end
end

-- For the sign-in scripts: a header of an answer (any case), and the code exchange of the
-- bench app's PKCE flow (BENCH_VERIFIER).
function header(headers, name)
  for k, v in pairs(headers) do if k:lower() == name then return v end end
end

function token_request(code)
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=authorization_code&client_id=bench-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A8088%2Fcallback&code_verifier="
      .. os.getenv("BENCH_VERIFIER") .. "&code=" .. code)
end

function done(summary, latency, requests)
  local flows, failed, busy = 0, 0, 0
  for _, t in ipairs(threads) do
    flows = flows + (t:get("flows") or 0)
    failed = failed + (t:get("failed") or 0)
    busy = busy + (t:get("busy") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"flows":%d,"busy":%d}\n',
    summary.requests, summary.duration, e.status + failed, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), flows, busy))
end
