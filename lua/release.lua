-- release: end a lease, checked by owner and fencing token; the wallet goes to cooling,
-- or to the tail of the free queue when the pool has no cooldown (retired when worn out).
-- KEYS: the pool's keys (_lib.lua); writes lease, owner, expiry, state, free or cooling, events.
-- ARGV: 1 address  2 owner  3 token
-- Reply: {'ok', new_state} | {'lost', reason, expires_at_ms}
--   reason: 'expired' (the lease ran out; reclaimed now if no reaper had), 'stale'
--   (the wallet is leased under another token or owner), 'none' (not leased at all).
local address, owner, token = ARGV[1], ARGV[2], ARGV[3]
if not valid_address(address) then return fail('bad address') end
if not valid_id(owner, false) then return fail('bad owner') end
if int_arg(token, 1, 2^53) == nil then return fail('bad token') end

local conf = read_conf()
local now = now_ms(conf)
local lease = load_lease(address)
if not lease then return {'lost', 'none', ''} end
if lease.t ~= token or lease.o ~= owner then return {'lost', 'stale', ''} end
if tonumber(lease.e) <= now then
  expire_lease(conf, now, address, lease)
  return {'lost', 'expired', lease.e}
end

drop_lease(address, lease)
local state = return_wallet(conf, address, now)
emit(now, 'released', address, state, lease.o, lease.t, lease.c, lease.u)
return {'ok', state}
