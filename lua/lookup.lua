-- lookup: the state of each given wallet in a pool ('' when the pool does not know it),
-- for an import's dry run. Read-only.
-- KEYS: the pool's keys (_lib.lua); reads state.
-- ARGV: 1.. wallets
-- Reply: {state or '', ...} in the order given

for i = 1, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. i) end
end
local states = {}
for i = 1, #ARGV, SLICE do
  local got = redis.call('HMGET', K.state, unpack(ARGV, i, math.min(i + SLICE - 1, #ARGV)))
  for j = 1, #got do states[i + j - 1] = got[j] or '' end
end
return states
