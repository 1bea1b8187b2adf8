-- newest_event: the id of the newest entry ever added to the pool's stream, for
-- rebalance (every event of a wallet up to it is old news to the syncer). Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads conf, events.
-- ARGV: none
-- Reply: the stream's last-generated-id ('0-0' when it has none)
--- @include "conf"
--- @include "layout"
--- @include "stream_top"

local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
return stream_top()
