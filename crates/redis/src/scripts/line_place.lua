-- Where a user stands in one coupon's line; a waiter's poll is their heartbeat.
-- O(log n): a rank in the line's zset, whatever its length.
-- KEYS[1] line, KEYS[2] seen, KEYS[3] admitted, KEYS[4] state, KEYS[5] joined.
-- ARGV[1] user, ARGV[2] TTL (ms) of the line's keys, ARGV[3] TTL (ms) of the state,
-- ARGV[4] re-seeding window (ms), ARGV[5] and ARGV[6] the generation and order number
-- of the caller's place ticket (0 0: none), ARGV[7] and ARGV[8] the caller's witness
-- (line_generation.lua).
-- The poll that first finds a valid admission tells its holder: from then on it lasts
-- the time to claim (`admission_ttl_ms`, set by admit), however late the poll came. A
-- told admission's score is its end + 0.5 (ms timestamps are far below 2^52, so the
-- half is exact): untold ones are whole numbers, and no other key is needed. That
-- poll also reports how long its holder waited (from the join time admit kept in
-- `joined`), once.
-- Returns {0, position, -1, generation, order} waiting, {1, valid until ms, waited ms
-- or -1, generation, 0} admitted, {2, 0, -1, generation, 0} admission expired,
-- {3, 0, -1, generation, 0} absent (codes in scripts.rs); each with the places given in
-- this generation last (line_generation.lua).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = line_generation(KEYS[4], now, tonumber(ARGV[4]), ARGV[3],
  tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[5]), tonumber(ARGV[6]))
local user = ARGV[1]
local order = redis.call('ZSCORE', KEYS[1], user)
if not order then
  local until_ms = tonumber(redis.call('ZSCORE', KEYS[3], user))
  if until_ms then
    if until_ms <= now then
      return {2, 0, -1, gen, 0, line_joins(KEYS[4])}
    end
    local waited = -1
    if math.floor(until_ms) == until_ms then
      local ttl = tonumber(redis.call('HGET', KEYS[4], 'admission_ttl_ms')) or 30000
      until_ms = now + ttl + 0.5
      redis.call('ZADD', KEYS[3], 'XX', until_ms, user)
      local joined = tonumber(redis.call('HGET', KEYS[5], user))
      if joined then
        waited = math.max(0, now - joined)
        redis.call('HDEL', KEYS[5], user)
      end
    end
    return {1, math.floor(until_ms), waited, gen, 0, line_joins(KEYS[4])}
  end
  local seat_gen = tonumber(ARGV[5])
  if not (seat_gen > 0 and seat_gen < gen) then
    return {3, 0, -1, gen, 0, line_joins(KEYS[4])}
  end
  -- Absent, with a place of a line lost since (line_generation.lua).
  order = ARGV[6]
  reseat(KEYS[1], KEYS[4], user, order)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
redis.call('ZADD', KEYS[2], now, user)
local rank = redis.call('ZRANK', KEYS[1], user)
return {0, rank + 1, -1, gen, tonumber(order), line_joins(KEYS[4])}
