-- Seeds a coupon once: nothing changes if the stock key exists, so concurrent seeders
-- are harmless. Creating the stock key is the last write, so a coupon is seeded
-- exactly when its holders are all in place.
-- KEYS[1] stock, KEYS[2] holders, KEYS[3] this seeder's staging set (holders sent
-- ahead in chunks; may not exist).
-- ARGV[1] total, ARGV[2] how many holders were staged, ARGV[3..] the remaining holders.
-- Returns 1 seeded, 0 already seeded, -1 the staging set lost members (expired).
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[3])
  return 0
end
local staged = tonumber(ARGV[2])
if staged > 0 then
  if redis.call('SCARD', KEYS[3]) ~= staged then
    redis.call('DEL', KEYS[3])
    return -1
  end
  -- Holders left over from a lost stock key are kept: they may be reservations not
  -- persisted yet, and counting them out under-sells instead of over-selling.
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[3])
    redis.call('DEL', KEYS[3])
  else
    redis.call('RENAME', KEYS[3], KEYS[2])
  end
  -- RENAME carries the staging TTL over.
  redis.call('PERSIST', KEYS[2])
end
-- unpack() is bounded by Lua's C stack (~8000 values): add in slices.
local step = 1000
for i = 3, #ARGV, step do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + step - 1, #ARGV)))
end
local remaining = tonumber(ARGV[1]) - redis.call('SCARD', KEYS[2])
if remaining < 0 then
  remaining = 0
end
redis.call('SET', KEYS[1], remaining)
return 1
