-- allocate_many: lease free wallets to several owners in one atomic step, FIFO.
-- KEYS: the pool's keys (_lib.lua); writes as allocate.
-- ARGV: 1 ttl_ms (0 = the pool's lease_ttl)  2 correlation_id  3 user_id
--       4 partial (1 = serve as many owners as possible, 0 = all or none)  5.. owners
-- Reply: {'ok', served, then per served owner: owner, address, token, expires_at_ms,
--         leased_at_ms, correlation_id, user_id, fresh}
--      | {'exhausted', free, leased, cooling} (partial = 0 and too few free wallets)
--      | {'nopool'}
-- An owner named twice, or already holding a live lease, gets that one lease.
local ttl_ms = int_arg(ARGV[1], 0, MAX_TTL_MS)
local cid, uid, partial = ARGV[2], ARGV[3], ARGV[4]
if ttl_ms == nil then return fail('bad ttl') end
if not valid_id(cid, true) or not valid_id(uid, true) then return fail('bad correlation or user id') end
if partial ~= '0' and partial ~= '1' then return fail('bad partial flag') end
for i = 5, #ARGV do
  if not valid_id(ARGV[i], false) then return fail('bad owner') end
end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if ttl_ms == 0 then ttl_ms = conf.lease_ttl_ms end
local now = now_ms(conf)
local batch = #ARGV - 4

reap_expired(conf, now, SETTLE_ON_ALLOCATE + batch)
promote_cooled(conf, now, SETTLE_ON_ALLOCATE + batch)

-- Settle each owner's own lease first and count the wallets the batch needs.
local held, need = {}, 0
for i = 5, #ARGV do
  local owner = ARGV[i]
  if held[owner] == nil then
    local address, lease = live_lease_of(conf, now, owner)
    if address then held[owner] = {address, lease, 0} else held[owner] = false; need = need + 1 end
  end
end
if partial == '0' and need > redis.call('LLEN', K.free) then
  local free, leased, cooling = counts()
  return {'exhausted', free, leased, cooling}
end

local reply, served = {'ok', 0}, 0
for i = 5, #ARGV do
  local owner = ARGV[i]
  if not held[owner] and redis.call('LLEN', K.free) > 0 then
    local address, lease = lease_head(now, owner, ttl_ms, cid, uid)
    held[owner] = {address, lease, 1}
  end
  local h = held[owner]
  if h and not h.sent then
    h.sent = true
    served = served + 1
    reply[#reply + 1] = owner
    for _, v in ipairs(lease_reply(h[1], h[2])) do reply[#reply + 1] = v end
    reply[#reply + 1] = h[3]
  end
end
reply[2] = served
return reply
