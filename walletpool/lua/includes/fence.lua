-- fence: refuse every change to a pool whose Redis may have lost writes the database has
--- @include "emit"
--- @include "fmt"
--- @include "keys"
--- @include "stream_top"

-- A pool the syncer armed (heal_begin.lua) stores in conf `run_id` the run id of the
-- Redis process whose data the database last vouched for. A process never loses its
-- own writes; a replica promoted after it missed some, or a restart that lost the AOF's
-- last second, is another process with another run id. Such a pool is fenced: every
-- script that would change it refuses (a 'walletpool-fenced' error) until heal.lua has
-- put back from the database what Redis lost (docs/design.md, "Healing").
--
-- Reading the run id costs an INFO (8-16 us), so a call reads it only when
-- CHECK_EVERY_MS passed since the last check on the pool's clock (or the clock went
-- back). A process that takes over holds the old one's last check, replicated or
-- persisted, so its first call checks as soon as the takeover took longer than that:
-- a Sentinel or managed failover takes seconds, a restart that reloads data more than
-- 10 ms.
local CHECK_EVERY_MS = 10
local FENCED = 'fenced'

local function current_run_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
end

-- Fence the pool now: remember where healing starts and record why, in one entry.
local function fence(conf, now, found)
  local from = stream_top()
  redis.call('HSET', K.conf, 'run_id', FENCED, 'heal_from', from)
  conf.run_id, conf.heal_from = FENCED, from
  emit_note('fenced', {'armed=' .. conf.armed_run_id, 'found=' .. found, 'heal_from=' .. from})
  flush_events(now)
end

-- Whether the pool must not change now (fenced before, or found on another process by
-- this call, which fences it). `force`: read the run id whatever the schedule.
local function fenced(conf, now, force)
  if conf.run_id == nil then return false end  -- not armed: no database to heal from
  if conf.run_id == FENCED then return true end
  local since = now - conf.run_checked_ms
  if not force and since >= 0 and since < CHECK_EVERY_MS then return false end
  local found = current_run_id()
  if found == conf.run_id then
    redis.call('HSET', K.conf, 'run_checked_ms', fmt(now))
    conf.run_checked_ms = now
    return false
  end
  conf.armed_run_id = conf.run_id
  fence(conf, now, found)
  return true
end

-- The refusal of a fenced pool; the client turns it into PoolFenced.
local function fenced_error()
  return redis.error_reply('walletpool-fenced: until healed from the database')
end
