-- stats: a consistent snapshot of one pool's counts and settings. Read-only.
-- KEYS: the pool's keys (includes/keys.lua); reads all but lease values.
-- ARGV: none
-- Reply: {exists, free, leased, cooling, known, last_token, events, expired_unreaped,
--         cooled_ready, lease_ttl_ms, cooldown_ms, max_size, max_uses, now_ms, network,
--         min_free, low_water_count, exhausted_count, reserve, reserve_target, waiting,
--         oldest_wait_ms, max_waiters, max_wait_ms, fenced}
-- reserve: wallets the database holds back; reserve_target: its configured size, or -1
-- for the default (min_free).
-- known counts every address ever added (retired included). waiting counts the orders
-- waiting whose deadline has not passed; oldest_wait_ms is how long the longest of
-- them has waited (0 when none waits). fenced: 1 when the pool refuses changes until
-- healed (includes/fence.lua), also when its next call will find Redis on another
-- process than the one the database vouched for (a restart, a failover), else 0.
--- @include "clock"
--- @include "conf"
--- @include "counts"
--- @include "fence"
--- @include "fmt"
--- @include "keys"
--- @include "layout"
--- @include "waiters"

local conf = read_conf()
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
local free, leased, cooling = counts()
local waiting, oldest_wait = live_waiters(now, false)
local max_waiters, max_wait_ms = wait_limits()
return {
  conf.exists and 1 or 0, free, leased, cooling, redis.call('HLEN', K.known),
  tonumber(redis.call('GET', K.seq)) or 0, redis.call('XLEN', K.events),
  redis.call('ZCOUNT', K.expiry, '-inf', now),
  redis.call('ZCOUNT', K.cooling, '-inf', now - conf.cooldown_ms),
  conf.lease_ttl_ms, conf.cooldown_ms, conf.max_size, conf.max_uses, fmt(now), conf.network,
  conf.min_free, tonumber(redis.call('HGET', K.conf, 'low_water_count')) or 0,
  tonumber(redis.call('HGET', K.conf, 'exhausted_count')) or 0,
  redis.call('SCARD', K.reserve), conf.reserve or -1, waiting, fmt(oldest_wait), max_waiters,
  max_wait_ms,
  (conf.run_id == FENCED or (conf.run_id ~= nil and conf.run_id ~= current_run_id())) and 1 or 0,
}
