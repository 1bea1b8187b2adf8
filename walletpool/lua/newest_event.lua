-- newest_event: the id of the newest entry ever added to the pool's stream, for
-- rebalance (every event of a wallet up to it is old news to the syncer). Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads conf, events.
-- ARGV: none
-- Reply: the stream's last-generated-id ('0-0' when it has none)
--- @include "conf"
--- @include "keys"
--- @include "layout"

local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
if redis.call('EXISTS', K.events) == 0 then return '0-0' end
local info = redis.call('XINFO', 'STREAM', K.events)
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then return info[i + 1] end
end
return '0-0'
