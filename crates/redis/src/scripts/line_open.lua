-- Starts the line of a new coupon: a generation with no re-seeding window (nobody can
-- be waiting yet). Changes nothing if the line has one.
-- KEYS[1] state; ARGV[1] TTL (ms) of the state.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HSETNX', KEYS[1], 'gen', string.format('%.0f', now)) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 0
