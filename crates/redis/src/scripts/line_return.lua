-- Gives an admission back, valid for ARGV[2] ms from now on the server's clock.
-- KEYS[1] admitted; ARGV[1] user, ARGV[2] validity (ms), ARGV[3] TTL (ms) of the key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Given back by its holder, who is there: told already (the + 0.5 of line_place.lua).
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]) + 0.5, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0
