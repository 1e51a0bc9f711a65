-- Sets a room's admission rate unless it was set less than ARGV[2] ms ago: every node's
-- controller proposes, one proposal per interval wins.
-- KEYS[1] state; ARGV[1] the rate (a decimal string, stored as given so it reads back
-- exactly), ARGV[2] minimum interval (ms), ARGV[3] TTL (ms) of the state.
-- Returns the rate in force, as stored (a string: a Lua number would reach the
-- caller truncated to an integer).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'rate', 'rate_set_ms')
local set_at = tonumber(stored[2])
if stored[1] and set_at and now - set_at < tonumber(ARGV[2]) then
  return stored[1]
end
redis.call('HSET', KEYS[1], 'rate', ARGV[1], 'rate_set_ms', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ARGV[1]
