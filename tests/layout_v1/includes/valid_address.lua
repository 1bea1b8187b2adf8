-- valid_address: check a wallet's form: an address, or address#tag in a tag pool
--- @include "limits"

local function valid_address(s)
  if type(s) ~= 'string' or #s < 1 or #s > MAX_ID_LEN then return false end
  return s:match('^[%w:._%-]+$') ~= nil or s:match('^[%w:._%-]+#[%w:._%-]+$') ~= nil
end
