-- Gives back one reservation. Idempotent: only a user actually removed from the
-- holders returns a unit.
-- KEYS[1] stock, KEYS[2] holders; ARGV[1] user id.
-- INCR would create a missing stock key and so "seed" a lost coupon with one unit;
-- the user still leaves the holders so a later re-seed counts them out.
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCR', KEYS[1])
end
return 0
