-- allocate: lease the head of a pool's free queue to an owner (pop-and-lock), or, when
-- none is free and the call may wait, make the owner wait for one (includes/waiters.lua).
-- KEYS: the pool's keys (includes/keys.lua); writes free, leases, expiry, seq, events, uses
--       (while the pool has a max_uses), cooling when it settles cooled wallets, conf
--       (counters), waiters and tickets.
-- ARGV: 1 owner  2 ttl_ms (0 = the pool's lease_ttl)  3 correlation_id ('' = none)
--       4 user_id ('' = none)  5 wait_ms (0 or absent = do not wait; capped to the pool's
--       max_wait)  6 priority ('normal' or 'high'; absent = normal)
-- Reply: {'ok', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id, fresh,
--         low_water, min_free} | {'exhausted', free, leased, cooling} | {'nopool'}
--       | {'queued', deadline_ms, joined_ms, entry_id (of its 'queued' change, or the
--          stream's newest when it waited already), now_ms}
--   joined_ms: when the order joined the waiters (on the pool's clock); a lease of the
--   owner leased at or after it is the one handed to it.
--       | {'full', free, leased, cooling, waiting, max_waiters}
--   low_water: the free count when this allocation left fewer than min_free (counted in
--   conf low_water_count), else -1. Each 'exhausted' and 'full' reply is counted in
--   exhausted_count.
-- Idempotent per owner: an owner with a live lease gets it back unchanged (fresh = 0,
-- also for a lease handed to it while it waited); an owner that waits already keeps
-- its place. Orders waiting go first: a call never takes
-- a wallet while an order ahead of it waits.
-- It settles expired leases and cooled wallets when due, and always before it reports
-- the pool exhausted (see SETTLE_EVERY_MS in includes/settle.lua). One stream entry records
-- every change the call made.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "exhausted"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "int_arg"
--- @include "lease_heads"
--- @include "layout"
--- @include "limits"
--- @include "live_lease_of"
--- @include "low_water"
--- @include "settle"
--- @include "stream_top"
--- @include "valid_id"
--- @include "waiters"

local owner, cid, uid = ARGV[1], ARGV[3], ARGV[4]
local ttl_ms = int_arg(ARGV[2], 0, MAX_TTL_MS)
local wait_ms = ARGV[5] and int_arg(ARGV[5], 0, MAX_TTL_MS) or 0
local priority = ARGV[6] or 'normal'
if not valid_id(owner, false) then return fail('bad owner') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if ttl_ms == nil then return fail('bad ttl') end
if wait_ms == nil then return fail('bad wait') end
if priority ~= 'normal' and priority ~= 'high' then return fail('bad priority') end

local conf = read_conf('hot')
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
settle(conf, now, false)

local address, lease = live_lease_of(conf, now, owner)
local fresh, took = 0, 0  -- fresh: this call gave the owner its wallet; took: it popped it
if not address then
  local popped, leases = {}, {}
  if hand_off(conf, now)[owner] then  -- the orders ahead were served, this one among them
    address, lease = live_lease_of(conf, now, owner)
  else
    popped, leases = lease_heads(conf, now, {owner}, ttl_ms, cid, uid)
    if #popped == 0 then
      settle(conf, now, true)  -- wallets it frees go to the orders ahead first
      address, lease = live_lease_of(conf, now, owner)
      if not address then popped, leases = lease_heads(conf, now, {owner}, ttl_ms, cid, uid) end
    end
  end
  if not address and #popped == 0 then
    if wait_ms == 0 then
      flush_events(now)
      return exhausted()
    end
    local joined, deadline, since = join(now, owner, wait_ms, priority == 'high', ttl_ms, cid,
                                         uid)
    if joined ~= 'queued' then
      flush_events(now)
      local reply = exhausted()
      if joined == 'off' then return reply end
      return {'full', reply[2], reply[3], reply[4], deadline, since}
    end
    return {'queued', fmt(deadline), fmt(since), flush_events(now) or stream_top(), fmt(now)}
  end
  if address then
    fresh = 1
  else
    address, lease, fresh, took = popped[1], leases[1], 1, 1
  end
end
local reply = {'ok', address, lease.t, lease.e, lease.l, lease.c, lease.u, fresh,
               low_water(conf, took), conf.min_free}
flush_events(took == 1 and lease.l or now)  -- lease.l: now, formatted already
return reply
