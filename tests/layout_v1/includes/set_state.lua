-- set_state: set wallets' state in the state hash
--- @include "bulk"
--- @include "keys"

local function set_state(addresses, state)
  local args = {}
  for _, address in ipairs(addresses) do
    args[#args + 1] = address
    args[#args + 1] = state
  end
  bulk('HSET', K.state, args)
end
