-- One admission step of a coupon's line. Safe to run from every node at once: what is
-- due comes from the line's own last admission time and the server's clock, and the
-- script runs alone, so two nodes' steps never admit the same slice twice.
-- KEYS[1] line, KEYS[2] seen, KEYS[3] admitted, KEYS[4] state, KEYS[5] joined.
-- ARGV[1] rate per second (decimal string), ARGV[2] burst, ARGV[3] abandon after (ms),
-- ARGV[4] admission validity (ms), ARGV[5] TTL (ms) of the line's keys, ARGV[6] TTL
-- (ms) of the state, ARGV[7] the most valid unused admissions there may be after the
-- step (the units left; -1: no cap), ARGV[8] re-seeding window (ms), ARGV[9] and
-- ARGV[10] the caller's witness (line_generation.lua).
-- While the line is being re-seeded (line_generation.lua) nobody is admitted: a waiter
-- who has not shown their place ticket yet may belong ahead of everyone now in line.
-- Returns {waiting, admitted_total, abandoned_total, admitted_now}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local line, seen, admitted, state, joined = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local _, reseeding = line_generation(state, now, tonumber(ARGV[8]), ARGV[6],
  tonumber(ARGV[9]), tonumber(ARGV[10]))
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if reseeding then
  burst = 0
end
local abandon_after = tonumber(ARGV[3])
-- Untold, an admission is held as long as a waiter's place would be (the heartbeat
-- bound), at least the time to claim; the poll that tells its holder restarts it at
-- the time to claim (line_place.lua), kept in the state for that.
local valid_until = now + math.max(tonumber(ARGV[3]), tonumber(ARGV[4]))
redis.call('HSET', KEYS[4], 'admission_ttl_ms', ARGV[4])
-- unpack() is bounded by Lua's C stack (~8000 values): work in slices.
local step = 1000
-- Admissions that expired are remembered this long, so a late poll hears EXPIRED.
local expired_kept_ms = 600000

-- 1. Drop waiters not seen for abandon_after: they are not admitted when their turn
-- comes. A slice per step keeps each call short; what is left goes on the next step,
-- and the pops below skip any quiet waiter they meet.
local abandoned = 0
local quiet = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. (now - abandon_after),
  'LIMIT', 0, step)
if #quiet > 0 then
  abandoned = redis.call('ZREM', line, unpack(quiet))
  redis.call('ZREM', seen, unpack(quiet))
end

-- 2. What is due since the last admission at `rate`, at most `burst`. The accounting
-- instant advances by exactly what was admitted, so a rate of 1/s (burst 1) asked every
-- 300 ms still admits one a second rather than one per 1.2 s; it jumps to now when
-- more than the burst was due (the excess is dropped, not owed) or the line ran out
-- (idle time does not pile up admissions).
local last = tonumber(redis.call('HGET', state, 'last_admit_ms'))
if last and last > now then
  last = now -- the clock stepped back (a failover to another host)
end
local due, capped
if not last then
  due, capped = burst, true
else
  due = math.floor((now - last) * rate / 1000)
  capped = due > burst
end
if capped then
  due = burst
end
-- Never more admissions waiting to be used than units left: one beyond the stock
-- would only lead its holder to SOLD_OUT.
local cap = tonumber(ARGV[7])
if cap and cap >= 0 and burst > 0 then
  local outstanding = redis.call('ZCOUNT', admitted, '(' .. now, '+inf')
  local room_left = math.max(0, cap - outstanding)
  if due > room_left then
    due, capped = room_left, true
  end
end
local waiting = redis.call('ZCARD', line)
local next_last = last
if burst <= 0 then
  due = 0 -- a step that admits nobody (figures only) leaves the accounting alone
elseif capped or waiting <= due or rate <= 0 then
  next_last = now
elseif due > 0 then
  next_last = last + due * 1000 / rate
end
if next_last ~= last then
  redis.call('HSET', state, 'last_admit_ms', string.format('%.17g', next_last))
end

local admitted_now = 0
while admitted_now < due do
  local popped = redis.call('ZPOPMIN', line, math.min(due - admitted_now, step))
  if #popped == 0 then
    break
  end
  local users, grants, joins = {}, {}, {}
  for i = 1, #popped, 2 do
    local user = popped[i]
    users[#users + 1] = user
    local seen_at = tonumber(redis.call('ZSCORE', seen, user))
    if seen_at and now - seen_at > abandon_after then
      abandoned = abandoned + 1 -- quiet past the slice swept above
    else
      grants[#grants + 1] = valid_until
      grants[#grants + 1] = user
      -- The order number is the join time x 1024 (line_join.lua): kept until the poll
      -- that tells the admission reports the wait.
      joins[#joins + 1] = user
      joins[#joins + 1] = string.format('%.0f', math.floor(tonumber(popped[i + 1]) / 1024))
      admitted_now = admitted_now + 1
    end
  end
  redis.call('ZREM', seen, unpack(users))
  if #grants > 0 then
    redis.call('ZADD', admitted, unpack(grants))
    redis.call('HSET', joined, unpack(joins))
  end
end

local admitted_total, abandoned_total
if admitted_now > 0 then
  admitted_total = redis.call('HINCRBY', state, 'admitted_total', admitted_now)
else
  admitted_total = tonumber(redis.call('HGET', state, 'admitted_total')) or 0
end
if abandoned > 0 then
  abandoned_total = redis.call('HINCRBY', state, 'abandoned_total', abandoned)
else
  abandoned_total = tonumber(redis.call('HGET', state, 'abandoned_total')) or 0
end

-- 3. Forget admissions that expired long ago (a slice per step), with the join time of
-- any that lapsed untold.
local stale = redis.call('ZRANGEBYSCORE', admitted, '-inf', '(' .. (now - expired_kept_ms),
  'LIMIT', 0, step)
if #stale > 0 then
  redis.call('ZREM', admitted, unpack(stale))
  redis.call('HDEL', joined, unpack(stale))
end

-- 4. A draining room is off once nobody waits (and nobody can still come back).
local left = redis.call('ZCARD', line)
if left == 0 and not reseeding and redis.call('HGET', state, 'switch') == '2' then
  redis.call('HSET', state, 'switch', 0)
end

redis.call('PEXPIRE', line, ARGV[5])
redis.call('PEXPIRE', seen, ARGV[5])
redis.call('PEXPIRE', admitted, ARGV[5])
redis.call('PEXPIRE', joined, ARGV[5])
redis.call('PEXPIRE', state, ARGV[6])
return {left, admitted_total, abandoned_total, admitted_now}
