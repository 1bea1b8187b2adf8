-- release_many: release several leases of one pool in one atomic step. Each lease is
-- checked on its own exactly as by release; a lost one does not stop the others.
-- KEYS: the pool's keys (_lib.lua); writes as release.
-- ARGV: triples 1 address  2 owner  3 token, repeated
-- Reply: {'ok', then per lease: new_state | 'lost:expired' | 'lost:stale' | 'lost:none'}
if #ARGV % 3 ~= 0 then return fail('release_many takes address, owner, token triples') end
for i = 1, #ARGV, 3 do
  if not valid_address(ARGV[i]) then return fail('bad address') end
  if not valid_id(ARGV[i + 1], false) then return fail('bad owner') end
  if int_arg(ARGV[i + 2], 1, 2^53) == nil then return fail('bad token') end
end

local conf = read_conf()
local now = now_ms(conf)
local reply = {'ok'}
for i = 1, #ARGV, 3 do
  local address, owner, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local lease = load_lease(address)
  local outcome
  if not lease then
    outcome = 'lost:none'
  elseif lease.t ~= token or lease.o ~= owner then
    outcome = 'lost:stale'
  elseif tonumber(lease.e) <= now then
    expire_lease(conf, now, address, lease)
    outcome = 'lost:expired'
  else
    drop_lease(address, lease)
    outcome = return_wallet(conf, address, now)
    emit(now, 'released', address, outcome, lease.o, lease.t, lease.c, lease.u)
  end
  reply[#reply + 1] = outcome
end
return reply
