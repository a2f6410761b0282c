-- wrk script for python -m bench.
--
-- BENCH_COOKIES names a file of Cookie header values, one per line: each
-- connection walks them in turn, so the load is spread over many sessions
-- (as real traffic is) instead of one hot row. Without it, no cookie.
-- done() prints one line, "BENCH {json}", that bench.load parses.

local cookies = {}
local file = os.getenv("BENCH_COOKIES")
if file and file ~= "" then
  for line in io.lines(file) do
    if line ~= "" then cookies[#cookies + 1] = line end
  end
end

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

local next_cookie = 0

function init(args)
  next_cookie = offset or 0
end

function request()
  if #cookies > 0 then
    next_cookie = next_cookie % #cookies + 1
    wrk.headers["Cookie"] = cookies[next_cookie]
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
