-- peek: the next addresses allocation would hand out, head first. Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads conf, free.
-- ARGV: 1 count (1..10000)
-- Reply: {'ok', address, ...} | {'nopool'}
--- @include "conf"
--- @include "fail"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"

local count = int_arg(ARGV[1], 1, 10000)
if count == nil then return fail('bad count') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local reply = redis.call('LRANGE', K.free, 0, count - 1)
table.insert(reply, 1, 'ok')
return reply
