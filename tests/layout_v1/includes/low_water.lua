-- low_water: count an allocation that left the pool below its low-water mark
--- @include "keys"

-- After an allocation that took `took` wallets: when the free queue fell below the
-- pool's min_free, count it and return the free count; else -1.
local function low_water(conf, took)
  if took == 0 or conf.min_free == 0 then return -1 end
  local free = redis.call('LLEN', K.free)
  if free >= conf.min_free then return -1 end
  redis.call('HINCRBY', K.conf, 'low_water_count', 1)
  return free
end
