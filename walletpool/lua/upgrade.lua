-- upgrade: convert a pool in layout 1 (walletpool 0.1.0's) to layout 2, in place and in
-- steps of at most `batch` wallets. Same FIFO order, leases (owners, tokens, deadlines),
-- cooling times, use counts, settings, reserve tombstones and fencing counter: the
-- free list, expiry, cooling, uses, reserve and seq keys are the same in both layouts;
-- the state hash becomes known, and the JSON leases with their owner index become
-- packed leases. Until the last step sets the layout, every other script refuses the
-- pool, so nothing reads it half-converted; a step interrupted by a crash is whole or
-- absent (one script), and running the upgrade again goes on where it stopped.
-- KEYS: the pool's keys (includes/keys.lua), then 13 state, 14 lease, 15 owner (layout 1's);
--       writes known, leases, conf; deletes 13-15 as they empty.
-- ARGV: 1 batch (1..100000)
-- Reply: {'more', converted} | {'done', converted} | {'current'} (already in this
--        layout) | {'nopool'}
--- @include "bulk"
--- @include "conf"
--- @include "fail"
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"

local V1 = {state = KEYS[13], lease = KEYS[14], owner = KEYS[15]}
local batch = int_arg(ARGV[1], 1, 100000)
if batch == nil then return fail('bad batch') end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if not outdated(conf) then return {'current'} end

local converted = 0

-- Convert the entries of a layout 1 hash page by page, from the cursor conf keeps between
-- steps, deleting each one converted, until `batch` are done or the hash is empty.
-- Only this script writes the pool meanwhile, so the scan sees every entry.
local function drain(which, cursor_field, convert)
  local cursor = redis.call('HGET', K.conf, cursor_field) or '0'
  repeat
    local page = redis.call('HSCAN', V1[which], cursor, 'COUNT', math.min(batch, 500))
    cursor = page[1]
    local gone = {}
    for i = 1, #page[2], 2 do
      convert(page[2][i], page[2][i + 1])
      gone[#gone + 1] = page[2][i]
    end
    bulk('HDEL', V1[which], gone)
    converted = converted + #gone
  until cursor == '0' or converted >= batch
  if cursor == '0' and redis.call('EXISTS', V1[which]) == 0 then
    redis.call('HDEL', K.conf, cursor_field)
    return true
  end
  redis.call('HSET', K.conf, cursor_field, cursor)
  return false
end

local function convert_lease(address, raw)
  local old = cjson.decode(raw)
  local lease = {o = old.o, t = old.t, e = old.e, l = old.l, c = old.c or '', u = old.u or ''}
  redis.call('HSET', K.leases, address, pack_lease(lease), owner_field(old.o), address)
end

local function convert_state(address, state)
  redis.call('HSET', K.known, address, state == 'retired' and 'retired' or '1')
end

if not drain('lease', 'upgrade_lease_cursor', convert_lease)
    or not drain('state', 'upgrade_state_cursor', convert_state) then
  return {'more', converted}
end
redis.call('DEL', V1.owner)
redis.call('HSET', K.conf, 'layout', fmt(LAYOUT))
return {'done', converted}
