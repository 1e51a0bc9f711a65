-- Where a user stands in one coupon's line; a waiter's poll is their heartbeat.
-- O(log n): a rank in the line's zset, whatever its length.
-- KEYS[1] line, KEYS[2] seen, KEYS[3] admitted; ARGV[1] user.
-- Returns {0, position} waiting, {1, valid until ms} admitted, {2, 0} admission
-- expired, {3, 0} absent (codes in scripts.rs).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local user = ARGV[1]
local rank = redis.call('ZRANK', KEYS[1], user)
if rank then
  redis.call('ZADD', KEYS[2], now, user)
  return {0, rank + 1}
end
local until_ms = tonumber(redis.call('ZSCORE', KEYS[3], user))
if not until_ms then
  return {3, 0}
end
if until_ms > now then
  return {1, until_ms}
end
return {2, 0}
