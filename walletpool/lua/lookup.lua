-- lookup: the state of each given wallet in a pool ('' when the pool does not know it),
-- for an import's dry run. Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads state.
-- ARGV: 1.. wallets
-- Reply: {state or '', ...} in the order given
--- @include "bulk"
--- @include "fail"
--- @include "keys"
--- @include "valid_address"

for i = 1, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. i) end
end
local states = bulk_read('HMGET', K.state, ARGV)
for i = 1, #ARGV do states[i] = states[i] or '' end
return states
