-- The room's shared state: switch, rate, bounds, and whether the line is being
-- re-seeded (after line_generation.lua, which finds a lost line here first: every node
-- asks this every tick).
-- KEYS[1] state; ARGV[1] re-seeding window (ms), ARGV[2] TTL (ms) of the state,
-- ARGV[3] and ARGV[4] the caller's witness (line_generation.lua).
-- Returns {switch, rate, min_rate, max_rate, reseeding (1 or 0), generation, joins (the
-- places given in this generation)}; a missing field is nil.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen, reseeding = line_generation(KEYS[1], now, tonumber(ARGV[1]), ARGV[2],
  tonumber(ARGV[3]), tonumber(ARGV[4]))
local v = redis.call('HMGET', KEYS[1], 'switch', 'rate', 'min_rate', 'max_rate', 'joins')
return {v[1], v[2], v[3], v[4], reseeding and 1 or 0, gen, tonumber(v[5]) or 0}
