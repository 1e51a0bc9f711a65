-- One more failed login for a username: the rules of couponrush_domain::throttle
-- (UsernameFailures::failed), atomically, so concurrent failures on several api nodes
-- all count. KEYS[1] a hash {f = failures, l = last failure, u = locked until} (ms).
-- ARGV[1] now (ms), ARGV[2] free failures, ARGV[3] first lockout (ms), ARGV[4] longest
-- lockout (ms), ARGV[5] forget after (ms). Returns the locked-until instant (ms).
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'f', 'l', 'u')
local f = tonumber(v[1]) or 0
local l = tonumber(v[2]) or 0
local u = tonumber(v[3]) or 0
if now - l > forget then
  f = 1
else
  f = f + 1
end
if f > free then
  local doublings = math.min(f - free - 1, 40)
  u = now + math.min(base * (2 ^ doublings), cap)
end
redis.call('HSET', KEYS[1], 'f', f, 'l', now, 'u', u)
-- Kept while it still says something: the lockout, or the failures not yet forgotten.
redis.call('PEXPIRE', KEYS[1], math.max(u, now + forget) - now + 1000)
return u
