-- place: put a wallet where a given state says, and take it out of every structure
--- @include "emit"
--- @include "keys"
--- @include "lease_store"

-- `w`: {a = address, state = free|leased|cooling|retired|reserve, lease = {o, t, l, e, c,
-- u} for leased, since = ms for cooling}. The wallet must be out of every structure.
local function place(w)
  if w.state == 'free' then
    redis.call('RPUSH', K.free, w.a)
  elseif w.state == 'leased' then
    local other = redis.call('HGET', K.leases, owner_field(w.lease.o))
    if other and other ~= w.a then  -- the owner's older lease Redis kept: it ended
      redis.call('HDEL', K.leases, owner_field(w.lease.o))
    end
    redis.call('HSET', K.leases, w.a, pack_lease(w.lease), owner_field(w.lease.o), w.a)
    redis.call('ZADD', K.expiry, w.lease.e, w.a)
  elseif w.state == 'cooling' then
    redis.call('ZADD', K.cooling, w.since, w.a)
  elseif w.state == 'retired' then
    redis.call('HSET', K.known, w.a, 'retired')
  elseif w.state == 'reserve' then
    redis.call('SADD', K.reserve, w.a)
  end
end

-- Take a wallet out of every structure it stands in, however many (a damaged pool):
-- every copy in the free queue, its lease and deadline (and its owner's index entry
-- when that names it), cooling, the reserve. `known` keeps it.
local function unplace(address)
  redis.call('LREM', K.free, 0, address)
  local held = load_lease(address)
  if held then
    redis.call('HDEL', K.leases, address)
    if redis.call('HGET', K.leases, owner_field(held.o)) == address then
      redis.call('HDEL', K.leases, owner_field(held.o))
    end
  end
  redis.call('ZREM', K.expiry, address)
  redis.call('ZREM', K.cooling, address)
  redis.call('SREM', K.reserve, address)
end

-- After place(w): keep its use count (while the pool counts uses) and record the change
-- as `kind` ('healed', 'repaired'); a cooling wallet's line carries when it began to cool
-- where a lease's deadline goes.
local function record_placed(kind, w, conf)
  if conf.max_uses > 0 and w.uses ~= '' and tonumber(w.uses) > 0 then
    redis.call('HSET', K.uses, w.a, w.uses)
  end
  local carried = w.lease or (w.state == 'cooling'
    and {o = '', t = '', l = '', e = w.since, c = '', u = ''}) or nil
  emit(kind, w.a, w.state, carried, w.uses ~= '' and tonumber(w.uses) or nil)
end
