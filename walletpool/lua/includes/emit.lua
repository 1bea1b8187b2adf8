-- emit: record each state change; one stream entry carries all of a call's (invariant 7)
--- @include "fmt"
--- @include "keys"

-- A change is one line of ten blank-separated fields, absolute values, never deltas:
--   type address state owner token leased_at expires_at correlation_id user_id uses
-- ('' where a field does not apply; ids and addresses hold no blanks). A 'configured'
-- line carries the settings now in force as name=value words after the ten.
local CHANGES = {}

local function emit(kind, address, state, lease, uses)
  lease = lease or {}
  CHANGES[#CHANGES + 1] = table.concat({kind, address, state, lease.o or '', lease.t or '',
                                        lease.l or '', lease.e or '', lease.c or '',
                                        lease.u or '', uses and fmt(uses) or ''}, ' ')
end

-- A settings change, with every setting now in force.
local function emit_configured(conf)
  local line = {'configured', '', '', '', '', '', '', '', '', ''}
  for _, f in ipairs({'lease_ttl_ms', 'cooldown_ms', 'max_size', 'max_uses', 'min_free'}) do
    line[#line + 1] = f .. '=' .. fmt(conf[f])
  end
  line[#line + 1] = 'network=' .. conf.network
  if conf.reserve then line[#line + 1] = 'reserve=' .. fmt(conf.reserve) end
  CHANGES[#CHANGES + 1] = table.concat(line, ' ')
end

-- Append the changes recorded so far as one entry (fields 'at' and 'c', the lines);
-- every script that changes the pool calls it before it replies. Returns the entry's
-- id, or nil when nothing changed.
local function flush_events(now)
  if #CHANGES == 0 then return nil end
  local id = redis.call('XADD', K.events, '*', 'at', fmt(now), 'c', table.concat(CHANGES, '\n'))
  CHANGES = {}
  return id
end
