-- fmt: an integer as an integer string (Lua would print large ones in exponent form)

-- Every number walletpool writes is an integer below 2^53 (times in ms, tokens, counts),
-- which '%d' (a 64-bit long here) prints exactly, at half the cost of '%.0f'.
local function fmt(n)
  return string.format('%d', n)
end
