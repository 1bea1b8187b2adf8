-- tokens: issue fencing tokens that no failover can repeat or move backwards
--- @include "fmt"
--- @include "keys"

-- Tokens grow by one per lease, and never lag the clock: each is at least the pool's
-- time in ms times TOKENS_PER_MS. A replica promoted after it missed the last writes
-- holds an older counter, but its clock has moved on by the failover's duration (a
-- second and more) while the old primary could issue at most TOKENS_PER_MS tokens a
-- millisecond (about 1,000 times what one Redis runs), so its first token is above
-- every one the old primary issued, as long as the two hosts' clocks agree to within
-- that failover time. Up to the year 2112 the tokens stay below the reserve's range
-- (RESERVE_TOKEN_BASE, 2^52) and exact in Lua's numbers.
local TOKENS_PER_MS = 1000

-- Reserve n tokens; returns the last (the first is last - n + 1).
local function next_tokens(now, n)
  local counter = tonumber(redis.call('GET', K.seq)) or 0
  local last = math.max(counter, now * TOKENS_PER_MS) + n
  redis.call('SET', K.seq, fmt(last))
  return last
end
