-- lease_heads: pop wallets from the head of the free queue and lease them to owners
--- @include "bulk"
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "lease_store"
--- @include "tokens"

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
  local leases, lease_args, expiry_args = {}, {}, {}
  for i, address in ipairs(popped) do
    local lease = {o = owners[i], t = fmt(last - n + i), e = expires, l = leased_at, c = cid, u = uid}
    leases[i] = lease
    local at = 4 * i  -- (explicit positions: `#` searches the table each time)
    lease_args[at - 3], lease_args[at - 2] = address, pack_lease(lease)
    lease_args[at - 1], lease_args[at] = owner_field(owners[i]), address
    expiry_args[2 * i - 1], expiry_args[2 * i] = expires, address
  end
  if n == 1 then  -- the hot path: one call each, no slicing
    redis.call('HSET', K.leases, lease_args[1], lease_args[2], lease_args[3], lease_args[4])
    redis.call('ZADD', K.expiry, expires, popped[1])
  else
    bulk('HSET', K.leases, lease_args)
    bulk('ZADD', K.expiry, expiry_args)
  end
  for i, address in ipairs(popped) do
    local uses = conf.max_uses > 0 and redis.call('HINCRBY', K.uses, address, 1) or nil
    emit(kind or 'allocated', address, 'leased', leases[i], uses)
  end
  return popped, leases
end
