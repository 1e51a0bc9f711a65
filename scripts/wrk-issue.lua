-- wrk script of scripts/bench: the 10,000-connection rush as a second, independent client.
--
-- With WRK_TOKENS=PREFIX and WRK_PATH=/api/coupons/ID/issue in the environment, every
-- request is POST WRK_PATH as the next fresh user of its thread's own token file
-- PREFIX.<thread> (one token a line, "Bearer " optional; bench mints them per thread).
-- The file is read line by line as requests go out, never loaded in init(): wrk runs
-- each thread's init() on the main thread before starting that thread, so a slow init
-- lets the first thread send before the clock starts (FIELD-NOTES: inflated rates).
-- When a file runs out it starts over (those users then answer ALREADY_ISSUED); the
-- number of such wraps is reported.
-- Without WRK_TOKENS the requests are wrk's own (e.g. GET /health).
--
-- done() prints one line "WRK_JSON {...}": requests, duration, socket errors, latency
-- percentiles (µs) and answers by status code, for the bench to read with jq.

local tokens_prefix = os.getenv("WRK_TOKENS")
local issue_path = os.getenv("WRK_PATH")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local file

function init(args)
  counts = {}
  wraps = 0
  if tokens_prefix then
    local name = tokens_prefix .. "." .. thread_id
    file = assert(io.open(name, "r"), "cannot open token file " .. name)
  end
end

if tokens_prefix then
  function request()
    local token = file:read("*l")
    if not token then
      file:seek("set")
      wraps = wraps + 1
      token = file:read("*l")
    end
    if token:sub(1, 7) ~= "Bearer " then
      token = "Bearer " .. token
    end
    return wrk.format("POST", issue_path, { ["Authorization"] = token, ["Content-Length"] = "0" })
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes, total_wraps = {}, 0
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts") or {}) do
      codes[status] = (codes[status] or 0) + n
    end
    total_wraps = total_wraps + (t:get("wraps") or 0)
  end
  local parts = {}
  for status, n in pairs(codes) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
      .. '"timeout":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"codes":{%s},"wraps":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ","), total_wraps))
end
