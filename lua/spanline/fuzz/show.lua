-- fuzz/show.lua: values as deterministic Lua literals (sorted keys, bytes
-- of invalid UTF-8 escaped, NaN and infinities spelled out), so a printed
-- counterexample reads the same in every run and can be pasted back.

local function show(v, indent, seen)
  local t = type(v)
  if t == "string" then
    local q = string.format("%q", v):gsub("\\\n", "\\n"):gsub("\r", "\\r")
    if not utf8.len(v) then -- invalid UTF-8: show every high byte as \xNN
      q = q:gsub("[\128-\255]", function(c) return string.format("\\x%02x", c:byte()) end)
    end
    return q
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "0/0" end
    if v == math.huge then return "math.huge" end
    if v == -math.huge then return "-math.huge" end
    return string.format("%.17g", v)
  elseif t ~= "table" then
    return tostring(v)
  end
  seen = seen or {}
  if seen[v] then return "<cycle>" end
  seen[v] = true
  indent = indent or ""
  local n = #v
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "number" or type(a) == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local parts = {}
  local nested = false
  for i = 1, n do
    if type(v[i]) == "table" then nested = true end
    parts[#parts + 1] = show(v[i], indent .. "  ", seen)
  end
  for _, k in ipairs(keys) do
    local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. show(k) .. "]"
    parts[#parts + 1] = ks .. " = " .. show(v[k], indent .. "  ", seen)
  end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  if nested and n > 1 then
    return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end


return function(v) return show(v) end
