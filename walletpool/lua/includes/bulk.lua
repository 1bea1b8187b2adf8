-- bulk: run a variadic command, or a multi-field read, over a long argument list in slices

-- Variadic commands go out in slices of this many arguments (even, so pairs stay
-- whole), well under Lua's stack limit for unpack.
local SLICE = 1000

-- Run `command key args...` over a long argument list in slices.
local function bulk(command, key, args)
  for i = 1, #args, SLICE do
    redis.call(command, key, unpack(args, i, math.min(i + SLICE - 1, #args)))
  end
end

-- Run a multi-field read (`HMGET key fields...`) over a long field list in slices;
-- returns the values in order (false where a field is absent).
local function bulk_read(command, key, fields)
  local values = {}
  for i = 1, #fields, SLICE do
    local got = redis.call(command, key, unpack(fields, i, math.min(i + SLICE - 1, #fields)))
    for j = 1, #got do values[i + j - 1] = got[j] end
  end
  return values
end
