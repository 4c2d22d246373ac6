-- fmt.lua: the viewer's text helpers: durations, clock times, bars, and
-- UTF-8 aware cutting and padding.
--
-- Width means terminal columns: one per code point, two for East Asian wide
-- characters and emoji (a wide character fills two cells of the screen).

local text = require("spanline.text")

local fmt = {}

-- Durations: the one formatter (spanline/text.lua), blank when unknown.
function fmt.duration(ns) return text.duration(ns, "") end

-- UTC wall-clock time of day with milliseconds: 09:00:01.250.
function fmt.clock(ns)
  if ns == nil then return "?" end
  local s = ns // 1000000000
  local ms = (ns % 1000000000) // 1000000
  return string.format("%s.%03d", os.date("!%H:%M:%S", s), ms)
end

-- Full UTC timestamp with nanoseconds: 2025-11-24T09:00:01.250000000Z.
function fmt.timestamp(ns)
  if ns == nil then return "?" end
  local s = ns // 1000000000
  return string.format("%s.%09dZ", os.date("!%Y-%m-%dT%H:%M:%S", s), ns % 1000000000)
end

-- Offset from a base as seconds with microseconds: +1.234567s.
function fmt.offset(ns)
  if ns < 0 then return string.format("-%d.%06ds", (-ns) // 1000000000, ((-ns) % 1000000000) // 1000) end
  return string.format("+%d.%06ds", ns // 1000000000, (ns % 1000000000) // 1000)
end

-- Text safe to draw on a terminal (spanline/text.lua).
fmt.clean = text.clean

-- Columns a code point takes: 2 for East Asian wide/fullwidth and emoji.
function fmt.cp_width(c)
  if c < 0x1100 then return 1 end
  if c <= 0x115F or (c >= 0x2E80 and c <= 0xA4CF and c ~= 0x303F)
    or (c >= 0xAC00 and c <= 0xD7A3) or (c >= 0xF900 and c <= 0xFAFF)
    or (c >= 0xFE30 and c <= 0xFE4F) or (c >= 0xFF00 and c <= 0xFF60)
    or (c >= 0xFFE0 and c <= 0xFFE6) or (c >= 0x1F300 and c <= 0x1F64F)
    or (c >= 0x1F900 and c <= 0x1F9FF) or (c >= 0x20000 and c <= 0x3FFFD) then
    return 2
  end
  return 1
end
local cp_width = fmt.cp_width

-- Columns of clean text.
local function columns(s)
  local n = 0
  for _, c in utf8.codes(s) do n = n + cp_width(c) end
  return n
end

-- Clean text and its width; plain ASCII (the usual name) costs one find.
local function clean_width(s)
  if not s:find("[%c\128-\255]") then return s, #s end
  s = fmt.clean(s)
  return s, columns(s)
end

function fmt.width(s)
  local _, n = clean_width(s)
  return n
end

-- Cleans and cuts to at most w columns, marking a cut with '…'. Returns the
-- text and its width.
function fmt.cut(s, w)
  if w <= 0 then return "", 0 end
  local n
  s, n = clean_width(s)
  if n <= w then return s, n end
  -- keep what fits in w - 1 columns, then the mark
  local used, stop = 0, 1
  for p, c in utf8.codes(s) do
    local cw = cp_width(c)
    if used + cw > w - 1 then
      stop = p
      break
    end
    used = used + cw
  end
  return s:sub(1, stop - 1) .. "…", used + 1
end

-- Cuts or pads on the right to exactly w columns.
function fmt.pad(s, w)
  local n
  s, n = fmt.cut(s, w)
  if n < w then s = s .. string.rep(" ", w - n) end
  return s
end

-- Pads on the left (right-aligns) to exactly w columns.
function fmt.rpad(s, w)
  local n
  s, n = fmt.cut(s, w)
  if n < w then s = string.rep(" ", w - n) .. s end
  return s
end

-- A bar of w columns placing [a, b] inside the range [lo, hi]. `open` marks
-- a span that has not ended: its bar runs to the right edge and ends in '▶'.
-- `fill` is the body character. At least one column is drawn.
function fmt.bar(w, lo, hi, a, b, open, fill)
  if w <= 0 then return "" end
  fill = fill or "█"
  local span = hi - lo
  if span <= 0 then span = 1 end
  local function col(t)
    local c = (t - lo) * w // span
    if c < 0 then c = 0 elseif c > w then c = w end
    return c
  end
  local from = col(a)
  if from >= w then from = w - 1 end
  local to = open and w or col(b or a)
  if to <= from then to = from + 1 end
  local parts = { string.rep(" ", from) }
  if open then
    parts[2] = string.rep(fill, to - from - 1) .. "▶"
  else
    parts[2] = string.rep(fill, to - from)
    parts[3] = string.rep(" ", w - to)
  end
  return table.concat(parts)
end

-- One-line rendering of an attribute value (strings quoted, arrays bracketed).
function fmt.value(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v):gsub("\\\n", "\\n") end
  if t == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = fmt.value(x) end
    if #parts == 0 and next(v) ~= nil then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for i, k in ipairs(keys) do parts[i] = k .. "=" .. fmt.value(v[k]) end
      return "{" .. table.concat(parts, " ") .. "}"
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  if math.type(v) == "float" and v == math.floor(v) and v > -1e15 and v < 1e15 then
    return string.format("%d", v)
  end
  return tostring(v)
end

-- Attributes as "k=v k=v", keys sorted.
function fmt.attrs(attrs)
  if type(attrs) ~= "table" then return "" end
  local keys = {}
  for k in pairs(attrs) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. fmt.value(attrs[k]) end
  return table.concat(parts, " ")
end

-- Short form of an id for narrow columns.
function fmt.short_id(id)
  if type(id) ~= "string" then return "?" end
  if #id > 16 then return id:sub(-16) end
  return id
end

return fmt
