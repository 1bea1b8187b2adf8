-- extend_batch: the extensions of several callers (concurrent calls a client
-- coalesced), each lease checked and moved exactly as extend.lua does it, in order.
-- One stream entry records every change.
-- KEYS: the pool's keys (includes/keys.lua); writes as extend.
-- ARGV: per caller, four: 1 address  2 owner  3 token  4 ttl_ms (0 = the pool's lease_ttl)
-- Reply: per caller, in order, extend.lua's reply, or an error reply for a caller whose
--   arguments are bad (the others are served): {reply_1, reply_2, ...}
--   | a layout or 'walletpool-fenced' error for the whole batch.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "extend_one"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "layout"
--- @include "limits"
--- @include "valid_address"
--- @include "valid_id"

if #ARGV == 0 or #ARGV % 4 ~= 0 then return fail('extend_batch takes four arguments a caller') end
local n = #ARGV / 4
local replies, ttls = {}, {}
for i = 1, n do
  local address, owner, token = ARGV[4 * i - 3], ARGV[4 * i - 2], ARGV[4 * i - 1]
  ttls[i] = int_arg(ARGV[4 * i], 0, MAX_TTL_MS)
  if not valid_address(address) then replies[i] = fail('bad address')
  elseif not valid_id(owner, false) then replies[i] = fail('bad owner')
  elseif int_arg(token, 1, 2^53) == nil then replies[i] = fail('bad token')
  elseif ttls[i] == nil then replies[i] = fail('bad ttl')
  end
end

local conf = read_conf('hot')
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
for i = 1, n do
  if replies[i] == nil then
    local ttl_ms = ttls[i] == 0 and conf.lease_ttl_ms or ttls[i]
    replies[i] = extend_one(conf, now, ARGV[4 * i - 3], ARGV[4 * i - 2], ARGV[4 * i - 1], ttl_ms)
  end
end
flush_events(now)
return replies
