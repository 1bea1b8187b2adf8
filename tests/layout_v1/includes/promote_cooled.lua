-- promote_cooled: move wallets whose cooldown is over to the free tail
--- @include "bulk"
--- @include "emit"
--- @include "keys"
--- @include "set_state"

-- Move up to `limit` wallets whose cooldown is over to the free tail, in the order
-- their leases ended. The cooldown in force now applies, so shortening it frees early.
local function promote_cooled(conf, now, limit)
  local ready = redis.call('ZRANGEBYSCORE', K.cooling, '-inf', now - conf.cooldown_ms,
                           'LIMIT', 0, limit)
  if #ready == 0 then return 0 end
  bulk('ZREM', K.cooling, ready)
  bulk('RPUSH', K.free, ready)
  set_state(ready, 'free')
  for _, address in ipairs(ready) do
    emit(now, 'cooled', address, 'free', nil)
  end
  return #ready
end
