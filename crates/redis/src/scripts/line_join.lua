-- Joins one coupon's waiting line, once. Atomic, so concurrent joins on any node get
-- distinct places and a user never holds two.
-- KEYS[1] line (zset user -> order number), KEYS[2] seen (user -> last heartbeat ms),
-- KEYS[3] admitted (user -> valid until ms), KEYS[4] state (hash: gen, seq, ...),
-- KEYS[5] joined (admitted user -> join ms).
-- ARGV[1] user, ARGV[2] TTL (ms) of the line's keys, ARGV[3] TTL (ms) of the state,
-- ARGV[4] re-seeding window (ms), ARGV[5] and ARGV[6] the generation and order number
-- of the caller's place ticket (0 0: none), ARGV[7] and ARGV[8] the caller's witness
-- (line_generation.lua).
-- Returns {0, position, -1, generation, order, joins} waiting, or {1, valid until ms,
-- -1, generation, 0, joins} when already admitted (joins: the places given in this
-- generation, line_generation.lua).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = line_generation(KEYS[4], now, tonumber(ARGV[4]), ARGV[3],
  tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[5]), tonumber(ARGV[6]))
local user = ARGV[1]
local until_ms = tonumber(redis.call('ZSCORE', KEYS[3], user))
if until_ms and until_ms > now then
  return {1, math.floor(until_ms), -1, gen, 0, line_joins(KEYS[4])}
end
local order = redis.call('ZSCORE', KEYS[1], user)
if not order then
  local seat_gen = tonumber(ARGV[5])
  if not until_ms and seat_gen > 0 and seat_gen < gen then
    -- Absent, with a place of a line lost since (line_generation.lua).
    order = ARGV[6]
    reseat(KEYS[1], KEYS[4], user, order)
  else
    -- Newcomer, or back after an admission that expired or was used: to the back.
    -- Order numbers come from a counter rather than the clock alone: two joins in the
    -- same millisecond still get distinct, ordered places, and a shuffle (which
    -- permutes the numbers already given) leaves everyone who joins later behind. The
    -- counter never runs behind the clock (now x 1024, within 2^53 until the year
    -- 2248), so an order number also says when its place was taken (the wait told with
    -- an admission counts from there), and a line lost with its counter still gives
    -- newcomers numbers above every place of the lost one, whose joins were earlier.
    local last = tonumber(redis.call('HGET', KEYS[4], 'seq')) or 0
    order = string.format('%.0f', math.max(last + 1, now * 1024))
    redis.call('HSET', KEYS[4], 'seq', order)
    redis.call('ZADD', KEYS[1], order, user)
    count_join(KEYS[4])
    if until_ms then
      redis.call('ZREM', KEYS[3], user)
      redis.call('HDEL', KEYS[5], user)
    end
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
redis.call('ZADD', KEYS[2], now, user)
local rank = redis.call('ZRANK', KEYS[1], user)
return {0, rank + 1, -1, gen, tonumber(order), line_joins(KEYS[4])}
