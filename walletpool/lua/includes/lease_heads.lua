-- lease_heads: pop wallets from the head of the free queue and lease them to owners
--- @include "bulk"
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "lease_store"
--- @include "tokens"

-- Lease `popped` (addresses taken from the free queue's head, in order) under `leases`
-- (the i-th address under the i-th lease record, {o, t, e, l, c, u}): one HSET of the
-- records and owner indexes, one ZADD of the deadlines, the use counts (only while the
-- pool has a max_uses) and a change each, named `kind`.
local function write_leases(conf, popped, leases, kind)
  local n = #popped
  if n == 1 then  -- the hot path: one call each, no argument tables, no slicing
    local lease = leases[1]
    redis.call('HSET', K.leases, popped[1], pack_lease(lease), owner_field(lease.o), popped[1])
    redis.call('ZADD', K.expiry, lease.e, popped[1])
  else
    local lease_args, expiry_args = {}, {}
    for i, address in ipairs(popped) do
      local lease = leases[i]
      local at = 4 * i  -- (explicit positions: `#` searches the table each time)
      lease_args[at - 3], lease_args[at - 2] = address, pack_lease(lease)
      lease_args[at - 1], lease_args[at] = owner_field(lease.o), address
      expiry_args[2 * i - 1], expiry_args[2 * i] = lease.e, address
    end
    bulk('HSET', K.leases, lease_args)
    bulk('ZADD', K.expiry, expiry_args)
  end
  for i, address in ipairs(popped) do
    local uses = conf.max_uses > 0 and redis.call('HINCRBY', K.uses, address, 1) or nil
    emit(kind, address, 'leased', leases[i], uses)
  end
end

-- Pop up to #owners wallets from the head of the free queue and lease them to the
-- owners in order (owners[i] gets the i-th). The caller has checked that none of the
-- owners holds a live lease. Use counts are kept only while the pool has a max_uses.
-- `kind` names the change ('allocated' unless given: 'handed' for a waiter's).
-- Returns the addresses and leases made, possibly fewer. (Numbers become strings once
-- each: formatting a number costs Lua about as much as a Redis command.)
local function lease_heads(conf, now, owners, ttl_ms, cid, uid, kind)
  local popped
  if #owners == 0 then
    return {}, {}
  elseif #owners == 1 then
    local one = redis.call('LPOP', K.free)
    popped = one and {one} or {}
  else
    popped = redis.call('LPOP', K.free, #owners) or {}
  end
  local n = #popped
  if n == 0 then return popped, {} end
  local last = next_tokens(conf, now, n)
  local expires, leased_at = fmt(now + ttl_ms), fmt(now)
  local leases = {}
  for i = 1, n do
    leases[i] = {o = owners[i], t = fmt(last - n + i), e = expires, l = leased_at, c = cid, u = uid}
  end
  write_leases(conf, popped, leases, kind or 'allocated')
  return popped, leases
end
