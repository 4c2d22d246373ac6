-- json.lua: the one JSON value writer of the Lua side (report --format json,
-- the Chrome trace exporter, the web page's data). Strings and doubles go
-- through the core's writer (core/src/json.h, via core.json_quote and
-- core.json_double), so a value reads the same whichever output it went
-- to: integers exactly (lua-cjson prints those above 1e14 with 14 digits),
-- a double as the shortest of %.15g / %.17g that reads back to the same
-- double (0.1 is 0.1), NaN and the infinities, which JSON lacks, as the
-- strings "NaN", "Infinity", "-Infinity", strings as valid UTF-8 (invalid
-- bytes become U+FFFD) with '"', '\' and control characters escaped.
-- html = true also escapes < > & U+2028 U+2029, for text inside a <script>
-- block (no "</script" or "<!--" can end it).
local json = {}

local core = require("spanline.core")

local HTML = { ["<"] = "\\u003c", [">"] = "\\u003e", ["&"] = "\\u0026" }
local MAX_DEPTH = 16
local quote, double = core.json_quote, core.json_double

-- A JSON string literal of s (any Lua value, through tostring): the core's
-- writer (core.json_quote).
function json.string(s, html)
  if type(s) ~= "string" then s = tostring(s) end
  s = quote(s)
  if html and s:find("[<>&\226]") then
    s = s:gsub("[<>&]", HTML):gsub("\226\128\168", "\\u2028"):gsub("\226\128\169", "\\u2029")
  end
  return s
end

local format, mtype = string.format, math.type

-- A number as JSON: an integer exactly, a double as the core writes one.
function json.number(v)
  if mtype(v) == "integer" then return format("%d", v) end
  return double(v)
end

local function value(v, html, depth)
  local t = type(v)
  if t == "string" then return json.string(v, html) end
  if t == "number" then return json.number(v) end
  if t == "boolean" then return v and "true" or "false" end
  if t ~= "table" then return "null" end
  if depth >= MAX_DEPTH then return '"…"' end
  local parts, n = {}, #v
  if n > 0 or next(v) == nil then
    for i = 1, n do parts[i] = value(v[i], html, depth + 1) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local item = v[k]
    if item == nil then item = v[math.tointeger(tonumber(k)) or k] end
    parts[i] = json.string(k, html) .. ":" .. value(item, html, depth + 1)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Any Lua value as JSON: a table with a sequence part (or empty) as an
-- array, another as an object with its keys sorted; nil and functions as
-- null; tables nested past 16 levels as "…".
function json.value(v, html)
  return value(v, html, 0)
end

return json
