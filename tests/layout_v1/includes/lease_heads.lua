-- lease_heads: pop wallets from the head of the free queue and lease them to owners
--- @include "bulk"
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "set_state"

-- Pop up to #owners wallets from the head of the free queue and lease them to the
-- owners in order (owners[i] gets the i-th). The caller has checked that none of the
-- owners holds a live lease. Returns the addresses and leases made, possibly fewer.
local function lease_heads(now, owners, ttl_ms, cid, uid)
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
  local last = redis.call('INCRBY', K.seq, n)
  local expires = fmt(now + ttl_ms)
  local leases, lease_args, owner_args, expiry_args = {}, {}, {}, {}
  for i, address in ipairs(popped) do
    local lease = {o = owners[i], t = fmt(last - n + i), e = expires, l = fmt(now), c = cid, u = uid}
    leases[i] = lease
    lease_args[#lease_args + 1] = address
    lease_args[#lease_args + 1] = cjson.encode(lease)
    owner_args[#owner_args + 1] = owners[i]
    owner_args[#owner_args + 1] = address
    expiry_args[#expiry_args + 1] = now + ttl_ms
    expiry_args[#expiry_args + 1] = address
  end
  bulk('HSET', K.lease, lease_args)
  bulk('HSET', K.owner, owner_args)
  bulk('ZADD', K.expiry, expiry_args)
  set_state(popped, 'leased')
  for i, address in ipairs(popped) do
    local uses = redis.call('HINCRBY', K.uses, address, 1)
    emit(now, 'allocated', address, 'leased', leases[i], uses)
  end
  return popped, leases
end
