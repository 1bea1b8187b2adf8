-- waiters: orders waiting for a wallet: join, hand-off, count
--- @include "conf"
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "lease_heads"
--- @include "lease_store"

-- An order that finds no free wallet may wait (allocate.lua with a wait): its owner
-- joins `waiters`, a zset ordered by priority, then arrival (every high score is below
-- every normal one), and `tickets` keeps the order's ticket while it waits, owner ->
-- 'deadline_ms ttl_ms joined_ms cid uid'. A wallet that becomes free while an order
-- waits goes to the first live waiter in the same script (hand_off): a lease for the
-- owner, its ticket gone, so a waiter never finds a wallet in the free queue. The
-- order learns of it from the lease itself: leased at or after it joined.
local NORMAL = 2^52  -- normal orders score from here; arrival numbers stay below it

local function read_ticket(owner)
  local raw = redis.call('HGET', K.tickets, owner)
  if not raw then return nil end
  local d, ttl, j, c, u = raw:match('^(%d+) (%d+) (%d+) (%S*) (%S*)$')
  if d == nil then error('a ticket is malformed: ' .. raw) end
  return {deadline = tonumber(d), ttl = tonumber(ttl), joined = tonumber(j), c = c, u = u}
end

-- Drop a waiting order's ticket, with one 'abandoned' change giving the reason.
local function drop_waiter(owner, ticket, reason)
  redis.call('ZREM', K.waiters, owner)
  redis.call('HDEL', K.tickets, owner)
  emit_waiter('abandoned', owner, fmt(ticket.deadline), ticket.c, ticket.u, 'reason=' .. reason)
end

-- Hand free wallets, head first, to the waiters in order; waiters whose deadline has
-- passed are dropped on the way. A pool without waiters pays one EXISTS. Returns the
-- owners served (owner -> true).
local function hand_off(conf, now)
  local served = {}
  if redis.call('EXISTS', K.waiters) == 0 then return served end
  while true do
    local first = redis.call('ZRANGE', K.waiters, 0, 0)[1]
    if not first then break end
    local ticket = read_ticket(first)
    if ticket == nil then  -- no ticket: nothing to serve
      redis.call('ZREM', K.waiters, first)
    elseif ticket.deadline <= now then
      drop_waiter(first, ticket, 'timeout')
    else
      -- an owner that got a wallet meanwhile (another call of the same order) keeps it
      if not redis.call('HGET', K.leases, owner_field(first)) then
        local popped = lease_heads(conf, now, {first}, ticket.ttl, ticket.c, ticket.u, 'handed')
        if #popped == 0 then break end
        served[first] = true
      end
      redis.call('ZREM', K.waiters, first)
      redis.call('HDEL', K.tickets, first)
    end
  end
  return served
end

-- Count hand-offs a call reports to their orders (conf handoffs_reported). It is also
-- the call's own write: a client waits for replicas (WAIT) up to its connection's last
-- write, so a call that reports a hand-off made by another must write after it.
local function reported(n)
  if n > 0 then redis.call('HINCRBY', K.conf, 'handoffs_reported', n) end
end

-- Waiting orders whose deadline has not passed: their count and the longest any of
-- them has waited (ms). With `drop`, tickets found stale are dropped on the way
-- (stats.lua reads without it: it writes nothing).
local function live_waiters(now, drop)
  local owners = redis.call('ZRANGE', K.waiters, 0, -1)
  local count, oldest = 0, 0
  for _, owner in ipairs(owners) do
    local ticket = read_ticket(owner)
    if ticket and ticket.deadline > now then
      count = count + 1
      oldest = math.max(oldest, now - ticket.joined)
    elseif drop and ticket then
      drop_waiter(owner, ticket, 'timeout')
    elseif drop then
      redis.call('ZREM', K.waiters, owner)
    end
  end
  return count, oldest
end

-- Make the owner wait: its ticket, at the back of its priority, unless it holds one.
-- Returns 'queued' with its deadline and when it joined, 'full' with the count and the
-- limit, or 'off' when the pool lets no order wait (max_wait 0).
local function join(now, owner, wait_ms, high, ttl_ms, cid, uid)
  local ticket = read_ticket(owner)
  if ticket and ticket.deadline > now then
    return 'queued', ticket.deadline, ticket.joined
  end
  local max_waiters, max_wait_ms = wait_limits()
  if max_wait_ms == 0 then return 'off' end
  if redis.call('ZCARD', K.waiters) >= max_waiters then
    local count = live_waiters(now, true)
    if count >= max_waiters then return 'full', count, max_waiters end
  end
  local deadline = now + math.min(wait_ms, max_wait_ms)
  local order = redis.call('HINCRBY', K.conf, 'wait_seq', 1)
  redis.call('ZADD', K.waiters, (high and 0 or NORMAL) + order, owner)
  redis.call('HSET', K.tickets, owner, fmt(deadline) .. ' ' .. fmt(ttl_ms) .. ' ' .. fmt(now)
             .. ' ' .. cid .. ' ' .. uid)
  emit_waiter('queued', owner, fmt(deadline), cid, uid, 'priority=' .. (high and 'high' or 'normal'))
  return 'queued', deadline, now
end
