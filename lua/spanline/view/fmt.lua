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

-- Characters that separate the parts of a name (module.function,
-- /a/path, ns:name): a name holding one is cut on the left, keeping its
-- last parts.
local SEPARATORS = "[%.:/]"

-- The code points of clean text with their widths.
local function points(s)
  local list = {}
  for p, c in utf8.codes(s) do list[#list + 1] = { p, cp_width(c) } end
  return list
end

-- A name cut to at most w columns where it says least: a dotted (or
-- slashed) name loses its first parts ("…query.chain.iter": the last
-- parts name the thing), another name its middle ("connect…_timeout").
-- Returns the text and its width.
function fmt.cut_name(s, w)
  local n
  s, n = clean_width(s)
  if n <= w then return s, n end
  if w <= 1 then return fmt.cut(s, w) end
  local pts = points(s)
  if s:find(SEPARATORS) then
    -- the longest tail fitting in w - 1 columns, from a part boundary when
    -- that keeps at least half of them
    local used, first = 0, #pts + 1
    while first > 1 and used + pts[first - 1][2] <= w - 1 do
      first = first - 1
      used = used + pts[first][2]
    end
    local tail = s:sub(pts[first][1])
    local prev = first > 1 and s:sub(pts[first - 1][1], pts[first][1] - 1) or ""
    if prev:find(SEPARATORS) then return "…" .. tail, used + 1 end   -- whole parts already
    local at = tail:find(SEPARATORS)
    if at and at < #tail then
      local part = tail:sub(at + 1)
      local pw = columns(part)
      if pw * 2 >= w - 1 then return "…" .. part, pw + 1 end
    end
    return "…" .. tail, used + 1
  end
  -- the middle goes: the head gets the larger half
  local room = w - 1
  local head_w, hi = 0, 0
  while hi < #pts and head_w + pts[hi + 1][2] <= room - room // 2 do
    hi = hi + 1
    head_w = head_w + pts[hi][2]
  end
  local tail_w, ti = 0, #pts + 1
  while ti - 1 > hi and tail_w + pts[ti - 1][2] <= room - head_w do
    ti = ti - 1
    tail_w = tail_w + pts[ti][2]
  end
  local head = hi > 0 and s:sub(1, (pts[hi + 1] and pts[hi + 1][1] or #s + 1) - 1) or ""
  local tail = ti <= #pts and s:sub(pts[ti][1]) or ""
  return head .. "…" .. tail, head_w + 1 + tail_w
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

-- A bar of w columns placing [a, b] inside the range [lo, hi]. A span
-- that goes on past an edge of the range says so at that edge: '◀' when it
-- started before lo, '▶' when it ends after hi or has not ended (`open`:
-- its bar runs to the right edge). `fill` is the body character. At least
-- one column is drawn.
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
  local cut_left = a < lo
  local cut_right = open or (b or a) > hi
  local body = to - from
  local left = cut_left and "◀" or ""
  local right = cut_right and "▶" or ""
  if body == 1 and cut_left and cut_right then left = "" end   -- one column: the right mark
  body = body - (left ~= "" and 1 or 0) - (right ~= "" and 1 or 0)
  return string.rep(" ", from) .. left .. string.rep(fill, body) .. right .. string.rep(" ", w - to)
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
