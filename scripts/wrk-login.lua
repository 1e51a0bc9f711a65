-- wrk script of scripts/bench-signin: sign-in traffic as a second, independent client.
--
-- WRK_USERS=FILE: every request is POST /api/auth/login as the next username of FILE
-- (one a line, read as requests go out, starting over at the end), with WRK_PASSWORD.
-- Without WRK_USERS every request is a random, unknown username (a guessing client).
--
-- done() prints one line "WRK_JSON {...}" (requests, duration, socket errors, latency
-- percentiles in µs, answers by status code), as scripts/wrk-issue.lua does.

local users_file = os.getenv("WRK_USERS")
local password = os.getenv("WRK_PASSWORD") or "a wrong password"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local file

function init(args)
  counts = {}
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  if users_file then
    file = assert(io.open(users_file, "r"), "cannot open " .. users_file)
  end
end

function request()
  local name
  if file then
    name = file:read("*l")
    if not name then
      file:seek("set")
      name = file:read("*l")
    end
  else
    name = string.format("guess-%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  end
  local body = string.format('{"username":"%s","password":"%s"}', name, password)
  return wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts") or {}) do
      codes[status] = (codes[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(codes) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,'
      .. '"timeout":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
