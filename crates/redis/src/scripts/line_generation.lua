-- The line's generation, prepended to every script that asks about a room (scripts.rs
-- builds them so). A generation is the Redis time (ms) its line was started at: by
-- line_open.lua when the coupon is created, with no re-seeding window, since nobody can
-- be waiting yet. A script that finds the room's state without one knows the line was
-- lost (a flush, a failover to a replica without it, a restart without persistence, an
-- expiry): it starts a new generation, and a re-seeding window of `grace_ms` during
-- which nobody is admitted, so every waiter still polling can show their place ticket
-- first. A lost line counts as drawn ('shuffled'): those who re-seat keep the order
-- their tickets carry, and those who joined since stay behind them.
-- The order counter was lost too. Order numbers are join times x 1024 (line_join.lua),
-- so the new line's would already exceed the lost one's, whose joins were earlier; but
-- a join in the very millisecond of the loss, or a replica whose clock is behind the
-- lost master's, could tie or undercut them. The new counter starts a second ahead of
-- the clock (joins in that second count their wait from up to a second late).
-- Returns the generation, and whether the line is being re-seeded.
local function line_generation(state, now, grace_ms, state_ttl)
  local stored = redis.call('HMGET', state, 'gen', 'reseed_until')
  local gen = tonumber(stored[1])
  if gen then
    return gen, now < (tonumber(stored[2]) or 0)
  end
  redis.call('HSET', state, 'gen', string.format('%.0f', now),
    'reseed_until', string.format('%.0f', now + grace_ms), 'shuffled', 1,
    'seq', string.format('%.0f', (now + 1000) * 1024))
  redis.call('PEXPIRE', state, state_ttl)
  return now, grace_ms > 0
end


-- Puts back a waiter who shows a place of a lost generation, at its order number:
-- ahead of everyone who joined since (their numbers are larger). A line again: an OFF
-- switch becomes DRAINING, so newcomers queue behind it.
local function reseat(line, state, user, order)
  redis.call('ZADD', line, order, user)
  local switch = redis.call('HGET', state, 'switch')
  if not switch or switch == '0' then
    redis.call('HSET', state, 'switch', 2)
  end
end
