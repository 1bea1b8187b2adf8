-- lookup: the state of each given wallet in a pool ('' when the pool does not know it),
-- for an import's dry run. Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads conf, known, leases, cooling, reserve.
-- ARGV: 1.. wallets
-- Reply: {state or '', ...} in the order given
--- @include "conf"
--- @include "fail"
--- @include "layout"
--- @include "state_of"
--- @include "valid_address"

for i = 1, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. i) end
end
local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
local states = {}
for i = 1, #ARGV do states[i] = state_of(ARGV[i]) end
return states
