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
-- A line can also come back *stale*: a failover to a replica that kept the room's state
-- but not its latest writes. Its generation is there, so the check above passes; what
-- betrays it is a count it never reached. The state counts the places it gave in this
-- generation (`joins`: newcomers and put-backs), every script that answers with the
-- count lets the node remember the highest it saw, and every script gets that witness
-- back (generation, count; 0 0 for none) as its last two arguments. A witness of this
-- generation above the count, or of a newer generation, proves writes were lost. So
-- does a place ticket (signed by the server) of this generation above the order
-- counter. Either way the line is treated as lost: a new generation (above every one
-- seen, so each ticket and admission of the stale line counts as older), the same
-- re-seeding window, and an order counter above the ticket and a second ahead of the
-- clock. Those still in the stale line keep their places (they are in order); those
-- it lost come back with their tickets. A node that saw the count since the replica's
-- copy catches it at its next call, unless newcomers through nodes that saw less
-- pushed the stale count past its witness first (one each).
-- Returns the generation, and whether the line is being re-seeded.
local function line_generation(state, now, grace_ms, state_ttl, witness_gen, witness_joins,
                               ticket_gen, ticket_order)
  local stored = redis.call('HMGET', state, 'gen', 'reseed_until', 'seq', 'joins')
  local gen = tonumber(stored[1])
  witness_gen, witness_joins = witness_gen or 0, witness_joins or 0
  ticket_gen, ticket_order = ticket_gen or 0, ticket_order or 0
  if gen then
    local seq, joins = tonumber(stored[3]) or 0, tonumber(stored[4]) or 0
    local stale = witness_gen > gen or (witness_gen == gen and witness_joins > joins)
      or ticket_gen > gen or (ticket_gen == gen and ticket_order > seq)
    if not stale then
      return gen, now < (tonumber(stored[2]) or 0)
    end
  end
  local new_gen = math.max(now, witness_gen + 1, ticket_gen + 1, (gen or 0) + 1)
  redis.call('HSET', state, 'gen', string.format('%.0f', new_gen),
    'reseed_until', string.format('%.0f', now + grace_ms), 'shuffled', 1,
    'seq', string.format('%.0f', math.max((now + 1000) * 1024, ticket_order + 1)),
    'joins', 0)
  redis.call('PEXPIRE', state, state_ttl)
  return new_gen, grace_ms > 0
end

-- One more place given in this generation (the stale-line witness above); returns the
-- count.
local function count_join(state)
  return redis.call('HINCRBY', state, 'joins', 1)
end

-- The places given in this generation, for the caller to remember as its witness.
local function line_joins(state)
  return tonumber(redis.call('HGET', state, 'joins')) or 0
end

-- Puts back a waiter who shows a place of a lost generation, at its order number:
-- ahead of everyone who joined since (their numbers are larger). A line again: an OFF
-- switch becomes DRAINING, so newcomers queue behind it.
local function reseat(line, state, user, order)
  redis.call('ZADD', line, order, user)
  count_join(state)
  local switch = redis.call('HGET', state, 'switch')
  if not switch or switch == '0' then
    redis.call('HSET', state, 'switch', 2)
  end
end
