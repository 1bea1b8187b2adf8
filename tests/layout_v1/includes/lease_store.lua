-- lease_store: read leases from the lease hash (JSON, every number a string)
--- @include "bulk"
--- @include "keys"

-- A lease is stored as JSON with every number as a string (no float rounding):
-- o owner, t token, e expires_at_ms, l leased_at_ms, c correlation_id, u user_id.
local function load_leases(addresses)
  local leases = bulk_read('HMGET', K.lease, addresses)
  for i, raw in ipairs(leases) do
    leases[i] = raw and cjson.decode(raw) or false
  end
  return leases
end

local function load_lease(address)
  local raw = redis.call('HGET', K.lease, address)
  return raw and cjson.decode(raw) or nil
end
