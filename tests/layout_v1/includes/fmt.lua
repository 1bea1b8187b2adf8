-- fmt: a number as an integer string (Lua would print large ones in exponent form)

local function fmt(n)
  return string.format('%.0f', n)
end
