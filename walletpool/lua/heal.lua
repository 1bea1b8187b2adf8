-- heal: put back, in a fenced pool, the wallets whose state the database knows newer
-- than Redis does (the database's rows above heal_from, and every wallet it holds in
-- its reserve), in chunks; the final chunk lifts the fence.
-- Only the healer writes while the pool is fenced, so chunks may go one by one; each
-- is refused once the fence is lifted or set again (a later heal_from), so a slow
-- healer can never overwrite what the pool did after a faster one finished.
-- KEYS: the pool's keys (includes/keys.lua); writes free, leases, expiry, cooling,
--       known, reserve, uses, seq, conf (run_id, run_checked_ms, heal_from), events.
-- ARGV: 1 heal_from (the fence's, from heal_begin)  2 final ('1': lift the fence after)
--       3 entry id floor ('' or 'ms-seq': this call's entry is written above it, so the
--       syncer takes every later change as newer than the database's rows)
--       4 token floor (the highest token the database has seen; the counter moves above)
--       5.. wallets, 10 fields each: address state owner token leased_at_ms
--       expires_at_ms correlation_id user_id uses cooling_since_ms; state one of free,
--       leased, cooling, retired, reserve; '' where a field does not apply
-- Reply: {'ok', changed} | {'stale'} (the pool is no longer fenced under heal_from:
--        nothing written) | {'nopool'}
-- One 'healed' change per wallet whose state it changed, and on the final chunk a
-- 'healed' note with the run id now trusted, all in one entry.
--- @include "clock"
--- @include "conf"
--- @include "emit"
--- @include "fail"
--- @include "fence"
--- @include "fmt"
--- @include "keys"
--- @include "layout"
--- @include "lease_store"
--- @include "place"
--- @include "state_of"
--- @include "stream_top"
--- @include "wallet_args"

local heal_from, final, floor, token_floor = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if final ~= '0' and final ~= '1' then return fail('bad final flag') end
if floor ~= '' and not floor:match('^%d+%-%d+$') then return fail('bad entry id floor') end
if token_floor == nil or token_floor < 0 then return fail('bad token floor') end
local wallets, bad = wallet_args(5)
if bad then return fail(bad) end

local conf = read_conf()
if not conf.exists then return {'nopool'} end
if outdated(conf) then return layout_error(conf) end
if conf.run_id ~= 'fenced' or conf.heal_from ~= heal_from then return {'stale'} end
local now = now_ms(conf)

-- Take a wallet out of where Redis has it (state `st`).
local function take_out(w, st)
  if st == 'free' then
    redis.call('LREM', K.free, 1, w.a)  -- the lost leases came from near the head
  elseif st == 'leased' then
    local held = load_lease(w.a)
    redis.call('HDEL', K.leases, w.a)
    if redis.call('HGET', K.leases, owner_field(held.o)) == w.a then
      redis.call('HDEL', K.leases, owner_field(held.o))
    end
    redis.call('ZREM', K.expiry, w.a)
  elseif st == 'cooling' then
    redis.call('ZREM', K.cooling, w.a)
  elseif st == 'reserve' then
    redis.call('SREM', K.reserve, w.a)
  end
end

local changed = 0
for _, w in ipairs(wallets) do
  local st = state_of(w.a)
  local same = st == w.state
  if same and st == 'leased' then
    local held = load_lease(w.a)
    same = held.t == w.lease.t and held.o == w.lease.o
  end
  -- A retired wallet stays retired: retirement is final, whatever an older row says.
  if not same and st ~= 'retired' then
    if st == '' then redis.call('HSET', K.known, w.a, '1') else take_out(w, st) end
    place(w)
    record_placed('healed', w, conf)
    changed = changed + 1
  end
end

local id = nil
if final == '1' then
  local counter = tonumber(redis.call('GET', K.seq)) or 0
  if token_floor > counter then redis.call('SET', K.seq, fmt(token_floor)) end
  local run_id = current_run_id()
  redis.call('HSET', K.conf, 'run_id', run_id, 'run_checked_ms', fmt(now))
  redis.call('HDEL', K.conf, 'heal_from')
  emit_note('healed', {'run_id=' .. run_id, 'heal_from=' .. heal_from})
  if floor ~= '' then  -- above the floor and the stream's own newest entry
    local f_ms, f_seq = floor:match('^(%d+)%-(%d+)$')
    local t_ms, t_seq = stream_top():match('^(%d+)%-(%d+)$')
    local ms, seq = tonumber(f_ms), tonumber(f_seq)
    if tonumber(t_ms) > ms or (tonumber(t_ms) == ms and tonumber(t_seq) > seq) then
      ms, seq = tonumber(t_ms), tonumber(t_seq)
    end
    if now > ms then id = nil else id = fmt(ms) .. '-' .. fmt(seq + 1) end
  end
end
flush_events(now, id)
return {'ok', changed}
