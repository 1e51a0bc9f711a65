-- Uses a user's admission, once. An expired one is left in place, so a later poll
-- still hears that it expired (admit purges it some minutes on). A token given by a
-- generation of the line older than this one is honoured without an entry: the
-- admission was lost with that line, and single use falls to the gate (one coupon per
-- user); the user's place in this line, if any, goes (they are served).
-- KEYS[1] admitted, KEYS[2] state, KEYS[3] line, KEYS[4] seen, KEYS[5] joined.
-- ARGV[1] user, ARGV[2] the token's generation, ARGV[3] re-seeding window (ms),
-- ARGV[4] TTL (ms) of the state, ARGV[5] and ARGV[6] the caller's witness
-- (line_generation.lua).
-- Returns 1 taken, 2 honoured (the line was lost since), 0 none valid.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = line_generation(KEYS[2], now, tonumber(ARGV[3]), ARGV[4],
  tonumber(ARGV[5]), tonumber(ARGV[6]))
local until_ms = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if until_ms and until_ms > now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[5], ARGV[1])
  return 1
end
if tonumber(ARGV[2]) < gen then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 2
end
return 0
