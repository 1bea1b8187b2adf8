-- allocate_one: one owner's allocation, as allocate.lua makes it and allocate_batch.lua
-- makes it for each caller of a batch
--- @include "exhausted"
--- @include "fmt"
--- @include "lease_heads"
--- @include "live_lease_of"
--- @include "low_water"
--- @include "settle"
--- @include "waiters"

-- Lease the free queue's head to `owner` (its live lease when it holds one; a hand-off
-- when it waited), or make it wait when `wait_ms` > 0 and none is free. The arguments
-- are checked already, and the pool settled when due.
-- Returns allocate.lua's reply, with the 'queued' reply's entry id left as '' for the
-- caller to fill once the call's changes are flushed; and true when it is 'queued'.
local function allocate_one(conf, now, owner, ttl_ms, cid, uid, wait_ms, high)
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
      if wait_ms == 0 then return exhausted(), false end
      local joined, deadline, since = join(now, owner, wait_ms, high, ttl_ms, cid, uid)
      if joined ~= 'queued' then
        local reply = exhausted()
        if joined == 'off' then return reply, false end
        return {'full', reply[2], reply[3], reply[4], deadline, since}, false
      end
      return {'queued', fmt(deadline), fmt(since), '', fmt(now)}, true
    end
    if address then
      fresh = 1
    else
      address, lease, fresh, took = popped[1], leases[1], 1, 1
    end
  end
  return {'ok', address, lease.t, lease.e, lease.l, lease.c, lease.u, fresh,
          low_water(conf, took), conf.min_free}, false
end
