-- drop_leases: remove ended leases and their owner index from the leases hash and expiry
--- @include "bulk"
--- @include "keys"
--- @include "lease_store"

-- Remove leases (address i held under leases[i]). Invariant 2 keeps the owner index
-- exact, so each owner's field names its address.
local function drop_leases(addresses, leases)
  if #addresses == 1 then  -- the hot path (release): no argument tables, no slicing
    redis.call('HDEL', K.leases, addresses[1], owner_field(leases[1].o))
    redis.call('ZREM', K.expiry, addresses[1])
    return
  end
  local fields = {}
  for i = 1, #addresses do
    fields[#fields + 1] = addresses[i]
    fields[#fields + 1] = owner_field(leases[i].o)
  end
  bulk('HDEL', K.leases, fields)
  bulk('ZREM', K.expiry, addresses)
end
