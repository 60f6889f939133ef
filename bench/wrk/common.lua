-- Shared by every workload: remember the threads, and print one JSON summary line at the end
-- (requests, non-2xx/3xx answers, socket errors, latency percentiles, completed flows). A script
-- may also count, in its `failed`, answers wrk took as fine but the flow could not go on with;
-- they are reported as status errors.
threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
  if setup_thread then setup_thread(thread) end
end

function done(summary, latency, requests)
  local flows, failed = 0, 0
  for _, t in ipairs(threads) do
    flows = flows + (t:get("flows") or 0)
    failed = failed + (t:get("failed") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"flows":%d}\n',
    summary.requests, summary.duration, e.status + failed, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), flows))
end
