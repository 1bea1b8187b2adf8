-- live_lease_of: an owner's live lease, settling it first when it has expired
--- @include "expire_leases"
--- @include "keys"
--- @include "lease_store"

local function live_lease_of(conf, now, owner)
  local address = redis.call('HGET', K.owner, owner)
  if not address then return nil end
  local lease = load_lease(address)
  if tonumber(lease.e) <= now then
    expire_leases(conf, now, {address}, {lease})
    return nil
  end
  return address, lease
end
