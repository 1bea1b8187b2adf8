-- in_service: every wallet in service, the database's reserve included (what max_size bounds)
--- @include "counts"
--- @include "keys"

local function in_service()
  local free, leased, cooling = counts()
  return free + leased + cooling + redis.call('SCARD', K.reserve)
end
