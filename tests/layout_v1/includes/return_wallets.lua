-- return_wallets: where wallets go when their leases end: retired, cooling or the free tail
--- @include "bulk"
--- @include "keys"

-- Where wallets go when their leases end (address i at ended_at[i]), in order:
-- retired when worn out, cooling while the pool has a cooldown, else the tail of the
-- free queue. Returns the new state of each.
local function return_wallets(conf, addresses, ended_at)
  local uses = {}
  if conf.max_uses > 0 then
    uses = bulk_read('HMGET', K.uses, addresses)
    for i = 1, #addresses do uses[i] = tonumber(uses[i]) or 0 end
  end
  local states, free, cooling, state_args = {}, {}, {}, {}
  for i, address in ipairs(addresses) do
    local state
    if conf.max_uses > 0 and uses[i] >= conf.max_uses then
      state = 'retired'
    elseif conf.cooldown_ms > 0 then
      state = 'cooling'
      cooling[#cooling + 1] = ended_at[i]
      cooling[#cooling + 1] = address
    else
      state = 'free'
      free[#free + 1] = address
    end
    states[i] = state
    state_args[#state_args + 1] = address
    state_args[#state_args + 1] = state
  end
  bulk('RPUSH', K.free, free)
  bulk('ZADD', K.cooling, cooling)
  bulk('HSET', K.state, state_args)
  return states
end
