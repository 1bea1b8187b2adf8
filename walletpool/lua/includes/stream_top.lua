-- stream_top: the id of the newest entry ever added to the pool's stream
--- @include "keys"

-- '0-0' when it has none. Every change Redis still knows of is at or below it.
local function stream_top()
  if redis.call('EXISTS', K.events) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', K.events)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
