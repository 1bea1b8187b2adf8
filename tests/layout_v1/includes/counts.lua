-- counts: the free, leased and cooling counts of the pool
--- @include "keys"

local function counts()
  return redis.call('LLEN', K.free), redis.call('HLEN', K.lease), redis.call('ZCARD', K.cooling)
end
