-- extend_one: move one live lease's deadline, as extend.lua and extend_batch.lua do
--- @include "emit"
--- @include "expire_leases"
--- @include "fmt"
--- @include "keys"
--- @include "lease_store"

-- The lease of `address`, checked by owner and token, gets the deadline now + ttl_ms
-- (its token stays). Returns extend.lua's reply; an expired lease is settled.
local function extend_one(conf, now, address, owner, token, ttl_ms)
  local lease = load_lease(address)
  if not lease then return {'lost', 'none', ''} end
  if lease.t ~= token or lease.o ~= owner then return {'lost', 'stale', ''} end
  if tonumber(lease.e) <= now then
    expire_leases(conf, {address}, {lease})
    return {'lost', 'expired', lease.e}
  end
  lease.e = fmt(now + ttl_ms)
  redis.call('HSET', K.leases, address, pack_lease(lease))
  redis.call('ZADD', K.expiry, now + ttl_ms, address)
  emit('extended', address, 'leased', lease)
  return {'ok', lease.e}
end
