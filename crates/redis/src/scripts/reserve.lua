-- One gate step, atomic because Redis runs a script to completion.
-- KEYS[1] stock, KEYS[2] holders; ARGV[1] user id.
-- Returns 0 reserved, 1 already issued, 2 sold out, 3 not seeded (codes in scripts.rs).
local stock = redis.call('GET', KEYS[1])
if not stock then
  return 3
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return 1
end
if tonumber(stock) <= 0 then
  return 2
end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 0
