-- release_leases: check leases by owner and token and end the live ones as released
--- @include "drop_leases"
--- @include "emit"
--- @include "expire_leases"
--- @include "lease_store"
--- @include "return_wallets"

-- Check leases (address, owner, token) against the store and end the live ones as
-- released. Returns each outcome (the new state, or 'lost:expired' / 'lost:stale' /
-- 'lost:none') and the stored leases read (`stored`, when given: read already by
-- load_leases). Expired ones are settled as expirations.
local function release_leases(conf, now, addresses, owners, tokens, stored)
  stored = stored or load_leases(addresses)
  local outcomes = {}
  local live, live_leases, expired, expired_leases = {}, {}, {}, {}
  local seen = {}
  for i, address in ipairs(addresses) do
    local lease = stored[i]
    if seen[address] then
      outcomes[i] = 'lost:none'  -- named twice in one batch: the first one released it
    elseif not lease then
      outcomes[i] = 'lost:none'
    elseif lease.t ~= tokens[i] or lease.o ~= owners[i] then
      outcomes[i] = 'lost:stale'
    elseif tonumber(lease.e) <= now then
      outcomes[i] = 'lost:expired'
      expired[#expired + 1] = address
      expired_leases[#expired_leases + 1] = lease
      seen[address] = true
    else
      live[#live + 1] = address
      live_leases[#live_leases + 1] = lease
      seen[address] = i
    end
  end
  expire_leases(conf, expired, expired_leases)
  if #live > 0 then
    local ended_at = {}
    for i = 1, #live do ended_at[i] = now end
    drop_leases(live, live_leases)
    local states = return_wallets(conf, live, ended_at)
    for i, address in ipairs(live) do
      local lease = live_leases[i]
      outcomes[seen[address]] = states[i]
      emit('released', address, states[i], lease)
    end
  end
  return outcomes, stored
end
