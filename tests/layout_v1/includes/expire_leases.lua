-- expire_leases: end leases whose deadline passed: wallets back, one 'expired' event each
--- @include "drop_leases"
--- @include "emit"
--- @include "return_wallets"

local function expire_leases(conf, now, addresses, leases)
  if #addresses == 0 then return end
  local ended_at = {}
  for i = 1, #addresses do ended_at[i] = tonumber(leases[i].e) end
  drop_leases(addresses, leases)
  local states = return_wallets(conf, addresses, ended_at)
  for i, address in ipairs(addresses) do
    emit(now, 'expired', address, states[i], leases[i])
  end
end
