-- add: append new wallets to the tail of a pool's free queue, skipping any wallet the
-- pool already knows (in any state, retired included) or that repeats in the batch.
-- All or nothing: when the new wallets would take the pool over max_size, nothing is added.
-- The client has checked and canonicalised the wallets for the pool's network; the
-- script refuses the batch when the pool's network is not the one they were checked for.
-- KEYS: the pool's keys (includes/keys.lua); writes conf (a new pool's defaults), free, known, events;
--       waiters and tickets (hand-offs to orders waiting).
-- A new pool gets a 'configured' change, then each new wallet an 'added' one, in one entry.
-- ARGV: 1 default lease_ttl_ms  2 default max_size  3 network  4 default min_free
--       5 default max_waiters  6 default max_wait_ms (all but 3 used only to create the
--       pool)  7.. wallets
-- Reply: {'ok', added, duplicates} | {'full', in_service, max_size, would_add}
--      | {'network', the pool's network}
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "bulk"
--- @include "clock"
--- @include "conf"
--- @include "defaults"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "in_service"
--- @include "keys"
--- @include "layout"
--- @include "valid_address"
--- @include "waiters"

local defaults = read_defaults()
if defaults == nil then return fail('bad defaults') end
for i = AFTER_DEFAULTS, #ARGV do
  if not valid_address(ARGV[i]) then return fail('bad address at position ' .. (i - AFTER_DEFAULTS + 1)) end
end

local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
if conf.exists and conf.network ~= '' and conf.network ~= defaults.network then
  return {'network', conf.network}
end
local max_size = conf.exists and conf.max_size or defaults.size
local fresh, seen, candidates = {}, {}, {}
for i = AFTER_DEFAULTS, #ARGV do
  if not seen[ARGV[i]] then
    seen[ARGV[i]] = true
    candidates[#candidates + 1] = ARGV[i]
  end
end
local known = bulk_read('HMGET', K.known, candidates)
for i, address in ipairs(candidates) do
  if not known[i] then fresh[#fresh + 1] = address end
end
local serving = in_service()
if serving + #fresh > max_size then return {'full', serving, max_size, #fresh} end

local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
if not conf.exists then
  create_pool(defaults)
  emit_configured(read_conf())
elseif conf.network == '' then  -- a pool made before pools had networks
  redis.call('HSET', K.conf, 'network', defaults.network)
  emit_configured(read_conf())
end
local marks = {}
for _, address in ipairs(fresh) do
  marks[#marks + 1] = address
  marks[#marks + 1] = '1'
  emit('added', address, 'free', nil)
end
bulk('RPUSH', K.free, fresh)
bulk('HSET', K.known, marks)
hand_off(conf, now)  -- new wallets go to the orders waiting first
flush_events(now)
return {'ok', #fresh, (#ARGV - AFTER_DEFAULTS + 1) - #fresh}
