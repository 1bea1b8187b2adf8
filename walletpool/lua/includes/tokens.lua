-- tokens: issue fencing tokens that no failover can repeat or move backwards
--- @include "fmt"
--- @include "keys"

-- Tokens only grow, and never lag the clock: each is at least the pool's time in ms
-- times TOKENS_PER_MS. A replica promoted after it missed the last writes holds an
-- older counter, but its clock has moved on by the failover's duration (a second and
-- more) while the old primary could issue at most TOKENS_PER_MS tokens a millisecond
-- (about 1,000 times what one Redis runs), so its first token is above every one the
-- old primary issued, as long as the two hosts' clocks agree to within that failover
-- time. Up to the year 2112 the tokens stay below the reserve's range
-- (RESERVE_TOKEN_BASE, 2^52) and exact in Lua's numbers.
local TOKENS_PER_MS = 1000

-- Reserve n tokens at `now` (conf.now_us, from includes/clock.lua, is the same instant
-- in µs); returns the last (the first is last - n + 1). The tokens start at the clock
-- in µs, so the counter is written and its old value read in one SET ... GET: two
-- calls never run in the same µs, and only when the old counter is ahead (a batch of
-- tokens issued less than n µs ago, a frozen test clock, a clock stepped back) does
-- it take a second SET, from the old counter on.
local function next_tokens(conf, now, n)
  local last = math.max(now * TOKENS_PER_MS, conf.now_us or 0) + n
  local old = tonumber(redis.call('SET', K.seq, fmt(last), 'GET')) or 0
  if old + n <= last then return last end
  last = old + n
  redis.call('SET', K.seq, fmt(last))
  return last
end
