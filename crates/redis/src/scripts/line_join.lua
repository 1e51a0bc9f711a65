-- Joins one coupon's waiting line, once. Atomic, so concurrent joins on any node get
-- distinct places and a user never holds two.
-- KEYS[1] line (zset user -> order number), KEYS[2] seen (user -> last heartbeat ms),
-- KEYS[3] admitted (user -> valid until ms), KEYS[4] state (hash: seq, ...).
-- ARGV[1] user, ARGV[2] TTL (ms) of the line's keys, ARGV[3] TTL (ms) of the state.
-- Returns {0, position} waiting, or {1, valid until ms} when already admitted.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local user = ARGV[1]
local until_ms = tonumber(redis.call('ZSCORE', KEYS[3], user))
if until_ms and until_ms > now then
  return {1, until_ms}
end
local rank = redis.call('ZRANK', KEYS[1], user)
if not rank then
  -- Newcomer, or back after an admission that expired or was used: to the back.
  -- Order numbers come from a counter rather than the clock: two joins in the same
  -- millisecond still get distinct, ordered places, and a shuffle (which permutes the
  -- numbers already given) leaves everyone who joins later behind.
  local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
  redis.call('ZADD', KEYS[1], seq, user)
  if until_ms then
    redis.call('ZREM', KEYS[3], user)
  end
  rank = redis.call('ZRANK', KEYS[1], user)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
redis.call('ZADD', KEYS[2], now, user)
return {0, rank + 1}
