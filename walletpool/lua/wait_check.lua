-- wait_check: for the orders a client has waiting, hand out what is due and tell each
-- where it stands; the client's one call per pool that covers every order it waits for.
-- KEYS: the pool's keys (includes/keys.lua); writes as a settle (expired leases, cooled
--       wallets, each handed to the orders waiting), waiters and tickets, events, conf
--       (handoffs_reported: the write a durable check waits for, see includes/waiters.lua).
-- ARGV: pairs 1 owner  2 joined_ms (when it joined, from allocate.lua's reply), repeated
-- Reply: {'ok', then per owner: status, address, token, expires_at_ms, leased_at_ms,
--         correlation_id, user_id, fresh} | {'nopool'}
--   status: 'leased' (the owner holds a live lease; fresh = 1 when it was leased at or
--   after joined_ms: handed to the order), 'queued' (it still waits) or 'gone'
--   (neither: it waited past its deadline, or its ticket was lost); the other fields
--   are '' unless leased.
-- A pool fenced for healing (includes/fence.lua) is refused with a 'walletpool-fenced'
-- error before anything but the fence is written.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "int_arg"
--- @include "keys"
--- @include "layout"
--- @include "live_lease_of"
--- @include "settle"
--- @include "valid_id"
--- @include "waiters"

if #ARGV % 2 ~= 0 then return fail('wait_check takes owner, joined_ms pairs') end
for i = 1, #ARGV, 2 do
  if not valid_id(ARGV[i], false) then return fail('bad owner') end
  if int_arg(ARGV[i + 1], 0, 1e14) == nil then return fail('bad joined_ms') end
end
local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
local now = now_ms(conf)
if fenced(conf, now) then return fenced_error() end
-- (with orders waiting the settle is forced, and it ends by handing out what is free)
settle(conf, now, redis.call('EXISTS', K.waiters) == 1)
local reply, handed = {'ok'}, 0
for i = 1, #ARGV, 2 do
  local owner, joined = ARGV[i], tonumber(ARGV[i + 1])
  local address, lease = live_lease_of(conf, now, owner)
  local n = #reply
  if address then
    reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4] = 'leased', address, lease.t, lease.e
    reply[n + 5], reply[n + 6], reply[n + 7] = lease.l, lease.c, lease.u
    reply[n + 8] = tonumber(lease.l) >= joined and 1 or 0
    handed = handed + reply[n + 8]
  else
    local ticket = read_ticket(owner)
    if ticket and ticket.deadline <= now then
      drop_waiter(owner, ticket, 'timeout')
      ticket = nil
    end
    reply[n + 1] = ticket and 'queued' or 'gone'
    for j = 2, 8 do reply[n + j] = '' end
  end
end
reported(handed)
flush_events(now)
return reply
