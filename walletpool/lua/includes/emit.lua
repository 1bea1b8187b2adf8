-- emit: record each state change; one stream entry carries all of a call's (invariant 7)
--- @include "conf"
--- @include "fmt"
--- @include "keys"
--- @include "limits"

-- A change is one line of ten blank-separated fields, absolute values, never deltas:
--   type address state owner token leased_at expires_at correlation_id user_id uses
-- ('' where a field does not apply; ids and addresses hold no blanks). A 'configured'
-- line carries the settings now in force as name=value words after the ten.
local CHANGES = {}

-- (One `..` chain, not table.concat: it builds the line without a table, and the hot
-- path records a change per call.)
local function emit(kind, address, state, lease, uses)
  if lease then
    CHANGES[#CHANGES + 1] = kind .. ' ' .. address .. ' ' .. state .. ' ' .. lease.o .. ' '
      .. lease.t .. ' ' .. lease.l .. ' ' .. lease.e .. ' ' .. lease.c .. ' ' .. lease.u .. ' '
      .. (uses and fmt(uses) or '')
  else
    CHANGES[#CHANGES + 1] = kind .. ' ' .. address .. ' ' .. state .. '       '
  end
end

-- A settings change, with every setting now in force.
local function emit_configured(conf)
  local line = {'configured', '', '', '', '', '', '', '', '', ''}
  for _, f in ipairs({'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses', 'min_free'}) do
    line[#line + 1] = f .. '=' .. fmt(conf[f])
  end
  line[#line + 1] = 'network=' .. conf.network
  if conf.reserve then line[#line + 1] = 'reserve=' .. fmt(conf.reserve) end
  local max_waiters, max_wait_ms = wait_limits()
  line[#line + 1] = 'max_waiters=' .. fmt(max_waiters)
  line[#line + 1] = 'max_wait_ms=' .. fmt(max_wait_ms)
  CHANGES[#CHANGES + 1] = table.concat(line, ' ')
end

-- A change of an order that waits ('queued', 'abandoned'): no wallet; its owner, its
-- deadline where a lease's goes, its ids, and its facts as name=value words.
local function emit_waiter(kind, owner, deadline, cid, uid, words)
  CHANGES[#CHANGES + 1] = kind .. '   ' .. owner .. '   ' .. deadline .. ' ' .. cid .. ' '
    .. uid .. '  ' .. words
end

-- A change of the pool itself ('fenced', 'healed'), its facts as name=value words.
local function emit_note(kind, words)
  CHANGES[#CHANGES + 1] = kind .. '          ' .. table.concat(words, ' ')
end

-- Drop changes a call that failed half-way left behind (the Functions library keeps
-- this file's state from one call to the next; an EVALSHA starts afresh).
local function forget_changes()
  CHANGES = {}
end

-- Without a syncer nothing would ever trim a pool's stream, and a Redis with the
-- noeviction policy would end by refusing every write. While the stream has no consumer
-- group (no syncer ever attached), once it holds more than the pool's stream_cap entries
-- the oldest go, down to nine tenths of the cap (so that the check, one XLEN and one HGET,
-- finds work only once in cap/10 entries), and conf `capped` records that the history
-- is no longer whole: a syncer that attaches later first records every wallet as it
-- stands (resync.lua). A group's entries are never trimmed here: its syncer trims those
-- it committed, and a syncer that is gone shows as growth (walletpool doctor, metrics).
-- The group is looked for in the step that would trim (so a group made at any moment
-- loses nothing), and once found, conf `attached` spares every later call the look
-- (a syncer that lags past the cap would otherwise pay it on each call).
local function cap_stream()
  local length = redis.call('XLEN', K.events)
  if length <= MIN_STREAM_CAP then return end
  local v = redis.call('HMGET', K.conf, 'stream_cap', 'attached')
  if v[2] then return end
  local cap = tonumber(v[1]) or DEFAULT_STREAM_CAP
  if length <= cap then return end
  if #redis.call('XINFO', 'GROUPS', K.events) > 0 then
    redis.call('HSET', K.conf, 'attached', 1)
    return
  end
  redis.call('XTRIM', K.events, 'MAXLEN', cap - math.floor(cap / 10))
  redis.call('HSET', K.conf, 'capped', 1)
end

-- Append the changes recorded so far as one entry (fields 'at' and 'c', the lines);
-- every script that changes the pool calls it before it replies. `now` is the time in
-- ms, a number or already its integer string; `id`, when given, the entry's id (heal.lua
-- sets one above the database's newest). Returns the entry's id, or nil when nothing
-- changed.
local function flush_events(now, id)
  if #CHANGES == 0 then return nil end
  local lines = #CHANGES == 1 and CHANGES[1] or table.concat(CHANGES, '\n')
  id = redis.call('XADD', K.events, id or '*', 'at', type(now) == 'string' and now or fmt(now),
                        'c', lines)
  CHANGES = {}
  cap_stream()
  return id
end
