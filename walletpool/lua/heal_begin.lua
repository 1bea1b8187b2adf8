-- heal_begin: arm a pool for healing, or tell whether it is fenced and from where.
-- A pool is armed when a database watches it (the syncer arms every pool it syncs): from
-- then on its scripts refuse every change once Redis turns out to be another process
-- than the one the database last vouched for (includes/fence.lua). This call checks now,
-- whatever the schedule, so the syncer finds a stale promotion within its loop even
-- while nobody allocates.
-- KEYS: the pool's keys (includes/keys.lua); writes conf (run_id, run_checked_ms,
--       heal_from) and, when it fences the pool, events.
-- ARGV: 1 arm ('1': arm a pool that is not armed yet; '0': only look)
-- Reply: {'ok', run_id} (armed, on the process it was armed on) | {'unarmed'}
--      | {'fenced', heal_from} (heal it from the database's rows above that stream id)
--      | {'nopool'}
--- @include "clock"
--- @include "conf"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "keys"
--- @include "layout"

local arm = ARGV[1]
if arm ~= '0' and arm ~= '1' then return fail('bad arm flag') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if conf.run_id == nil then
  if arm == '0' then return {'unarmed'} end
  local run_id = current_run_id()
  redis.call('HSET', K.conf, 'run_id', run_id, 'run_checked_ms', fmt(now))
  return {'ok', run_id}
end
if fenced(conf, now, true) then return {'fenced', conf.heal_from} end
return {'ok', conf.run_id}
