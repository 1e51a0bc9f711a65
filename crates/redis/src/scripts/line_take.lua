-- Uses a user's admission, once. An expired one is left in place, so a later poll
-- still hears that it expired (admit purges it some minutes on).
-- KEYS[1] admitted; ARGV[1] user. Returns 1 taken, 0 none valid.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if until_ms and until_ms > now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
