-- exhausted: count a refusal for an empty pool and build its reply
--- @include "counts"
--- @include "keys"

local function exhausted()
  redis.call('HINCRBY', K.conf, 'exhausted_count', 1)
  local free, leased, cooling = counts()
  return {'exhausted', free, leased, cooling}
end
