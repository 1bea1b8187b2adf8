-- valid_id: check an owner, correlation id or user id: printable ASCII without blanks
--- @include "limits"

local function valid_id(s, optional)
  if s == '' then return optional end
  return #s <= MAX_ID_LEN and s:match('^[\33-\126]+$') ~= nil
end
