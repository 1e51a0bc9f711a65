-- Draws a random order for everyone in a coupon's line, once (at the opening of a
-- shuffled pre-queue). The set of order numbers stays the same, only who holds which
-- is drawn: whoever joins afterwards still gets a larger number and queues behind.
-- KEYS[1] line, KEYS[2] state; ARGV[1] seed (an integer in 0 .. 2^32-1, already mixed
-- by the caller), ARGV[2] TTL (ms) of the state, ARGV[3] re-seeding window (ms),
-- ARGV[4] and ARGV[5] the caller's witness (line_generation.lua).
-- Returns 1 drawn now, 0 drawn before (nothing changes; a line found lost counts as
-- drawn, see line_generation.lua).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
line_generation(KEYS[2], now, tonumber(ARGV[3]), ARGV[2],
  tonumber(ARGV[4]), tonumber(ARGV[5]))
if redis.call('HSETNX', KEYS[2], 'shuffled', 1) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local n = #entries / 2
local users = {}
for i = 1, n do
  users[i] = entries[2 * i - 1]
end
-- Fisher-Yates with our own generator rather than math.random, whose seeding differs
-- across Redis versions (and is fixed per script before 7): the 32-bit LCG of
-- Numerical Recipes, exact in Lua's doubles (1664525 * 2^32 < 2^53). Its high bits
-- pick the index (x * i / 2^32), as the low bits of an LCG are weak.
local x = tonumber(ARGV[1]) % 4294967296
for i = n, 2, -1 do
  x = (1664525 * x + 1013904223) % 4294967296
  local j = math.floor(x * i / 4294967296) + 1
  users[i], users[j] = users[j], users[i]
end
-- Rebuilt rather than re-scored in place: inserting in ascending order into an empty
-- set skips every member's removal from the old position (a third faster at 100,000).
-- The line keeps its expiry.
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
-- unpack() is bounded by Lua's C stack (~8000 values): add in slices.
local step = 1000
local args = {}
for i = 1, n do
  args[#args + 1] = entries[2 * i]
  args[#args + 1] = users[i]
  if #args >= 2 * step then
    redis.call('ZADD', KEYS[1], unpack(args))
    args = {}
  end
end
if #args > 0 then
  redis.call('ZADD', KEYS[1], unpack(args))
end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
