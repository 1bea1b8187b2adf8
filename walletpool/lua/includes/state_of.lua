-- state_of: a wallet's state, read from where it stands ('' when the pool does not know it)
--- @include "keys"

local function state_of(address)
  local known = redis.call('HGET', K.known, address)
  if not known then return '' end
  if known == 'retired' then return 'retired' end
  if redis.call('HEXISTS', K.leases, address) == 1 then return 'leased' end
  if redis.call('ZSCORE', K.cooling, address) then return 'cooling' end
  if redis.call('SISMEMBER', K.reserve, address) == 1 then return 'reserve' end
  return 'free'
end
