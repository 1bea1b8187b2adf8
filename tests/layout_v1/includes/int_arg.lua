-- int_arg: parse an integer argument within bounds, or nil

local function int_arg(s, lo, hi)
  local n = tonumber(s)
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then return nil end
  return n
end
