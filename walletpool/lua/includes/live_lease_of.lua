-- live_lease_of: an owner's (or each of several owners') live lease, settling expired ones
--- @include "bulk"
--- @include "expire_leases"
--- @include "keys"
--- @include "lease_store"

local function live_lease_of(conf, now, owner)
  local address = redis.call('HGET', K.leases, owner_field(owner))
  if not address then return nil end
  local lease = load_lease(address)
  if tonumber(lease.e) <= now then
    expire_leases(conf, {address}, {lease})
    return nil
  end
  return address, lease
end

-- The live lease of each of `owners` (distinct), in two reads whatever their number:
-- a list of {address, lease} or false, in order; expired ones are settled first, in
-- that order, as live_lease_of settles one.
local function live_leases_of(conf, now, owners)
  local fields = {}
  for i, owner in ipairs(owners) do fields[i] = owner_field(owner) end
  local addresses = bulk_read('HMGET', K.leases, fields)
  local found, at = {}, {}
  for i = 1, #owners do
    if addresses[i] then
      found[#found + 1] = addresses[i]
      at[#at + 1] = i
    end
  end
  local out, expired, expired_leases = {}, {}, {}
  for i = 1, #owners do out[i] = false end
  local leases = load_leases(found)
  for j, address in ipairs(found) do
    local lease = leases[j]
    if lease and tonumber(lease.e) <= now then
      expired[#expired + 1] = address
      expired_leases[#expired_leases + 1] = lease
    elseif lease then
      out[at[j]] = {address, lease}
    end
  end
  expire_leases(conf, expired, expired_leases)
  return out
end
