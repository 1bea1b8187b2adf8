-- resync: record every wallet of a pool as it stands, a page at a time, for a syncer that
-- attaches after the pool's stream was capped (includes/emit.lua). The history left in
-- the stream no longer describes every wallet, so each wallet gets a 'present' change
-- with its whole state (absolute, like every change): the database the syncer writes
-- then ends with every wallet as Redis has it, whatever the history it missed. The
-- first page also records the settings and the fencing counter (so that no token is
-- handed out twice after a heal); the last drops conf `capped`.
-- KEYS: the pool's keys (includes/keys.lua); writes events, conf.
-- ARGV: 1 cursor ('0' to begin; then the reply's)  2 count (1..10000: wallets a page,
--       about; HSCAN's COUNT)
-- Reply: {'ok', next cursor ('0': done), wallets recorded} | {'whole'}: the stream was
--   never capped, nothing to record | {'nopool'} | a layout or 'walletpool-fenced' error
--   (a fenced pool's Redis may have lost what the database holds: heal it first).
-- Every page is one stream entry. A wallet that changes between pages has its change
-- recorded after its 'present' line, or its 'present' line shows the change: either
-- way the last word on it is right.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "state_of"

local cursor, count = ARGV[1], int_arg(ARGV[2], 1, 10000)
if cursor == nil or not cursor:match('^%d+$') then return fail('bad cursor') end
if count == nil then return fail('bad count') end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if redis.call('HEXISTS', K.conf, 'capped') == 0 then return {'whole'} end
local now = now_ms(conf)
if fenced(conf, now, true) then return fenced_error() end

if cursor == '0' then
  emit_configured(conf)
  -- the counter as a token of no wallet: the database's max_token takes it
  local counter = redis.call('GET', K.seq) or '0'
  emit('present', '', '', {o = '', t = counter, l = '', e = '', c = '', u = ''})
end
local page = redis.call('HSCAN', K.known, cursor, 'COUNT', count)
local recorded = 0
for i = 1, #page[2], 2 do
  local address = page[2][i]
  local state = state_of(address)
  local carried = nil
  if state == 'leased' then
    carried = load_lease(address)
  elseif state == 'cooling' then
    carried = {o = '', t = '', l = '', e = redis.call('ZSCORE', K.cooling, address), c = '',
               u = ''}
  end
  local uses = conf.max_uses > 0 and tonumber(redis.call('HGET', K.uses, address)) or nil
  emit('present', address, state, carried, uses)
  recorded = recorded + 1
end
if page[1] == '0' then redis.call('HDEL', K.conf, 'capped') end
flush_events(now)
return {'ok', page[1], recorded}
