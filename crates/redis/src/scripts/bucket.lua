-- A GCRA bucket of couponrush_domain::throttle (Bucket), per client address.
-- KEYS[1] the theoretical arrival time (ms). ARGV[1] now (ms), ARGV[2] interval (ms),
-- ARGV[3] tolerance (ms), ARGV[4] mode: 'count' counts the event whatever the state (a
-- failure that happened), 'try' counts it only if it fits (a signup about to happen).
-- Returns 0 when counted, or the milliseconds until one more would fit.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
if ARGV[4] == 'try' and tat - now - tolerance > 0 then
  return tat - now - tolerance
end
tat = tat + interval
-- Expires once the bucket is full again: an idle address leaves nothing behind.
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1000)
return 0
