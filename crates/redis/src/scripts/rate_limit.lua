-- GCRA (generic cell rate algorithm): one number per limiter, the theoretical arrival
-- time (TAT, microseconds) of the next permit if permits were spread evenly.
-- The clock is the Redis server's (TIME; allowed before writes since Redis 5 with
-- effects replication, the only mode in Redis 7), so consumer hosts' clocks don't matter.
-- KEYS[1] TAT, KEYS[2] grants counter.
-- ARGV[1] emission interval in microseconds (1e6 / rate), ARGV[2] burst, ARGV[3] permits,
-- ARGV[4] mode: 'try' takes the permits only if they are usable now; 'reserve' takes
-- them now for use once usable (the caller sleeps until then).
-- Returns {1, microseconds until usable} when taken (always 0 for 'try'), or
-- {0, microseconds to wait before asking again} when nothing was taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = stored and tonumber(stored) or now
if tat < now then
  tat = now
end
-- A request larger than the burst could never fit: it is admitted against a full
-- bucket (tat == now) and charged in full, so it cannot starve and later callers
-- wait out the excess.
local allow_at = tat + (math.min(n, burst) - burst) * interval
if allow_at > now and ARGV[4] ~= 'reserve' then
  return {0, math.ceil(allow_at - now)}
end
local new_tat = tat + n * interval
-- Expires once the bucket is full again: an idle limiter leaves nothing behind.
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
redis.call('INCRBY', KEYS[2], n)
if allow_at > now then
  return {1, math.ceil(allow_at - now)}
end
return {1, 0}
