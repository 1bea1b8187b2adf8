-- drop_leases: remove ended leases from the lease, expiry and owner indexes
--- @include "bulk"
--- @include "keys"

-- Remove leases (address i held under leases[i]) from the lease, expiry and owner
-- indexes. Invariant 2 keeps the owner index exact, so each owner maps to its address.
local function drop_leases(addresses, leases)
  local owners = {}
  for i = 1, #addresses do owners[i] = leases[i].o end
  bulk('HDEL', K.lease, addresses)
  bulk('ZREM', K.expiry, addresses)
  bulk('HDEL', K.owner, owners)
end
