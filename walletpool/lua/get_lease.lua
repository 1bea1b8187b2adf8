-- get_lease: the live lease an owner holds, read-only (an expired one reads as none).
-- KEYS: the pool's keys (includes/keys.lua); reads conf, leases.
-- ARGV: 1 owner
-- Reply: {'ok', address, token, expires_at_ms, leased_at_ms, correlation_id, user_id} | {'none'}
--      | {'expired', address, token, expires_at_ms}: the owner's lease ran out and was
--        not settled yet (the client reads it as none; the CLI says when it expired)
--- @include "clock"
--- @include "conf"
--- @include "fail"
--- @include "keys"
--- @include "layout"
--- @include "lease_reply"
--- @include "lease_store"
--- @include "valid_id"

local owner = ARGV[1]
if not valid_id(owner, false) then return fail('bad owner') end
local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
local address = redis.call('HGET', K.leases, owner_field(owner))
if not address then return {'none'} end
local lease = load_lease(address)
if tonumber(lease.e) <= now then return {'expired', address, lease.t, lease.e} end
local reply = {'ok'}
for _, v in ipairs(lease_reply(address, lease)) do reply[#reply + 1] = v end
return reply
