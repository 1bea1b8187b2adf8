-- repair: mend the damage reconcile found in a pool's own structures (walletpool.store.
-- repair decides what each wallet should be): each wallet given is taken out of every
-- structure it stands in and put where its state says; stray addresses (in a structure,
-- never added) are taken out; owner index entries that name no lease of their owner are
-- dropped; the fencing counter moves up to the highest token held.
-- KEYS: the pool's keys (includes/keys.lua); writes free, leases, expiry, cooling, known,
--       reserve, uses, seq, events.
-- ARGV: 1 token floor  2 S: how many strays  3..S+2 the strays
--       S+3 O: how many owner index entries to drop  then the O owners
--       then wallets, 10 fields each (includes/wallet_args.lua)
-- Reply: {'ok', changed} | {'nopool'}
-- One 'repaired' change per wallet with its new state, and a 'repaired' note per stray
-- and per dropped index entry, and one when the counter moves, all in one entry.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written: heal it first.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "place"
--- @include "valid_address"
--- @include "valid_id"
--- @include "wallet_args"

local token_floor = int_arg(ARGV[1], 0, 2^53)
local strays = int_arg(ARGV[2], 0, 1e6)
if token_floor == nil or strays == nil or #ARGV < strays + 3 then
  return fail('bad token floor or strays')
end
for i = 3, strays + 2 do
  if not valid_address(ARGV[i]) then return fail('bad stray at position ' .. (i - 2)) end
end
local owners_at = strays + 3
local owners = int_arg(ARGV[owners_at], 0, 1e6)
if owners == nil or #ARGV < owners_at + owners then return fail('bad owner count') end
for i = owners_at + 1, owners_at + owners do
  if not valid_id(ARGV[i], false) then return fail('bad owner at position ' .. (i - owners_at)) end
end
local wallets, bad = wallet_args(owners_at + owners + 1)
if bad then return fail(bad) end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end

local changed = 0
for i = 3, strays + 2 do
  unplace(ARGV[i])
  emit_note('repaired', {'dropped=' .. ARGV[i]})
  changed = changed + 1
end
for i = owners_at + 1, owners_at + owners do
  redis.call('HDEL', K.leases, owner_field(ARGV[i]))
  emit_note('repaired', {'owner_index_dropped=' .. ARGV[i]})
  changed = changed + 1
end
for _, w in ipairs(wallets) do
  unplace(w.a)
  redis.call('HSET', K.known, w.a, '1')
  place(w)
  record_placed('repaired', w, conf)
  changed = changed + 1
end
local counter = tonumber(redis.call('GET', K.seq)) or 0
if token_floor > counter then
  redis.call('SET', K.seq, fmt(token_floor))
  emit_note('repaired', {'counter=' .. fmt(token_floor), 'was=' .. fmt(counter)})
  changed = changed + 1
end
flush_events(now)
return {'ok', changed}
