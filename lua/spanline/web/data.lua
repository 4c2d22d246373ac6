-- web/data.lua: spans as the page's compact JSON: a batch of column arrays
-- plus a string table, for the HTML export (one batch) and the live page
-- (a snapshot, then batches of the spans that changed).
--
-- Key idea: every span gets a serial number the first time it is encoded
-- (kept on the span as `_web`); a batch lists spans by serial, so an update
-- replaces a row the page already has, and parents are serials too. Names,
-- trace ids, statuses, error texts and attribute keys go through one string
-- table that only grows: a batch carries the strings added since the last
-- one, so every client of a live page receives the same bytes. Times are
-- integer nanoseconds relative to `base` (sent as a string: epoch
-- nanoseconds do not fit a JavaScript double), written with %d so none is
-- rounded. Text is written by spanline.json, escaped for a <script
-- type="application/json"> block (< > & U+2028 U+2029).

local data = {}

local json = require("spanline.json")

-- Text inside the page's <script> block (json.lua: html = true).
local function json_string(s) return json.string(s, true) end
local function json_value(v) return json.value(v, true) end

local tointeger, floor, tostring_ = math.tointeger, math.floor, tostring

-- An integer as JSON (tostring writes Lua integers exactly, and fast).
local function int_or_null(v)
  if v == nil then return "null" end
  return tostring_(tointeger(v) or floor(v + 0.5))
end

-- ===== ENCODER =====

local Encoder = {}
Encoder.__index = Encoder

-- opts.base: integer nanoseconds the times are relative to (default: the
-- first span's start seen by the first batch).
function data.encoder(opts)
  opts = opts or {}
  return setmetatable({
    base = opts.base,
    strings = { "" },   -- index 0 is "" (none); Lua index = JSON index + 1
    string_ix = { [""] = 0 },
    sent = 0,           -- strings already in a batch (JSON indices below this)
    serials = 0,
  }, Encoder)
end

function Encoder:intern(s)
  if s == nil then return 0 end
  s = tostring(s)
  local ix = self.string_ix[s]
  if ix then return ix end
  ix = #self.strings
  self.strings[ix + 1] = s
  self.string_ix[s] = ix
  return ix
end

-- The serial of span s (assigned the first time it is asked for).
function Encoder:serial(s)
  local n = rawget(s, "_web")
  if n then return n end
  n = self.serials
  self.serials = n + 1
  s._web = n
  return n
end

local function rel(base, ts)
  if ts == nil then return "null" end
  return int_or_null(ts - base)
end

-- The first start among the count spans get gives (the base of a file's
-- batch).
local function first_start(count, get)
  local lo
  for i = 1, count do
    local a = get(i).start
    if a and (lo == nil or a < lo) then lo = a end
  end
  return lo
end

local function report_json(rows, columns)
  local cols, out = {}, {}
  for i, c in ipairs(columns) do
    cols[i] = "[" .. json_string(c[1]) .. "," .. json_string(c[2]) .. "," .. json_string(c[3]) .. "]"
  end
  for r, row in ipairs(rows) do
    local cells = {}
    for i, c in ipairs(columns) do
      local v = row[c[1]]
      if c[3] == "str" then cells[i] = json_string(tostring(v or ""))
      else cells[i] = int_or_null(v) end
    end
    out[r] = "[" .. table.concat(cells, ",") .. "]"
  end
  return '{"columns":[' .. table.concat(cols, ",") .. '],"rows":[' .. table.concat(out, ",") .. "]}"
end

-- Columns of one batch, in the order the page reads them.
local COLUMNS = { "id", "trace", "parent", "name", "start", "dur", "self", "status", "error", "lane" }

-- One batch (a JSON text). spans: a list, or { n = count, get = fn(i) }
-- whose spans have their serials (`_web`) already and are read one at a
-- time (the live page: a table per span would outlive the batch); opts:
-- now (integer ns, "now" for spans still open), snapshot (true: the
-- receiver starts afresh and the batch holds every string and span),
-- report = { rows, columns }, info (a table of scalars about the source:
-- file, service, records, bad lines). Serials are assigned in list order
-- to the spans of a list that have none.
function Encoder:batch(spans, opts)
  opts = opts or {}
  local count, get = spans.n, spans.get
  if not get then
    count = #spans
    get = function(i) return spans[i] end
    for i = 1, count do self:serial(spans[i]) end
  end
  -- The base is fixed by the first batch with a start; before that (a
  -- live file still empty) "now" stands in, so offsets stay small.
  if not self.base then self.base = first_start(count, get) end
  local base = self.base or opts.now or 0
  local col = {}
  for _, name in ipairs(COLUMNS) do col[name] = {} end
  local serial_col = {}
  local parent_ids, attrs, events = {}, {}, {}
  for i = 1, count do
    local s = get(i)
    local n = rawget(s, "_web")
    serial_col[i] = n
    col.id[i] = json_string(s.id or "")
    col.trace[i] = self:intern(s.trace or s.id)
    local p = s.parent_span
    col.parent[i] = p and self:serial(p) or -1
    if not p and s.parent then parent_ids[#parent_ids + 1] = "[" .. n .. "," .. json_string(s.parent) .. "]" end
    col.name[i] = self:intern(s.name or "?")
    col.start[i] = rel(base, s.start)
    col.dur[i] = int_or_null(s.dur)
    col.self[i] = int_or_null(s.self)
    col.status[i] = self:intern(s.status or "open")
    col.error[i] = self:intern(s.error)
    col.lane[i] = int_or_null(s.lane or 0)
    local a = s.attrs
    if a and next(a) ~= nil then
      local parts = {}
      local keys = {}
      for k in pairs(a) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      for j, k in ipairs(keys) do parts[j] = self:intern(k) .. "," .. json_value(a[k]) end
      attrs[#attrs + 1] = "[" .. n .. "," .. table.concat(parts, ",") .. "]"
    end
    local evs = s.events
    if evs and #evs > 0 then
      local parts = {}
      for j, ev in ipairs(evs) do
        local ea = ev.attrs
        parts[j] = "[" .. self:intern(ev.name or "?") .. "," .. rel(base, ev.ts) .. ","
          .. ((ea and next(ea) ~= nil) and json_value(ea) or "null") .. "]"
      end
      events[#events + 1] = "[" .. n .. ",[" .. table.concat(parts, ",") .. "]]"
    end
  end
  -- A snapshot carries every string and leaves `sent` alone: the batches
  -- other clients get next still carry what they have not seen (a client
  -- that has a string already overwrites it with the same text).
  local from = opts.snapshot and 0 or self.sent
  local new_strings = {}
  for i = from + 1, #self.strings do new_strings[#new_strings + 1] = json_string(self.strings[i]) end
  if not opts.snapshot then self.sent = #self.strings end
  local out = {
    '{"v":1,"snapshot":', opts.snapshot and "true" or "false",
    ',"base":"', string.format("%d", base), '"',
    ',"now":', opts.now and rel(base, opts.now) or "null",
    ',"strings_from":', tostring(from), ',"strings":[', table.concat(new_strings, ","), "]",
    ',"spans":{"n":[', table.concat(serial_col, ","), "]",
  }
  for _, name in ipairs(COLUMNS) do
    out[#out + 1] = ',"' .. name .. '":[' .. table.concat(col[name], ",") .. "]"
  end
  out[#out + 1] = '},"parent_id":[' .. table.concat(parent_ids, ",") .. "]"
  out[#out + 1] = ',"attrs":[' .. table.concat(attrs, ",") .. "]"
  out[#out + 1] = ',"events":[' .. table.concat(events, ",") .. "]"
  if opts.report then
    out[#out + 1] = ',"report":' .. report_json(opts.report.rows, opts.report.columns)
  end
  if opts.info then
    local keys, parts = {}, {}
    for k in pairs(opts.info) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do parts[i] = json_string(k) .. ":" .. json_value(opts.info[k]) end
    out[#out + 1] = ',"info":{' .. table.concat(parts, ",") .. "}"
  end
  out[#out + 1] = "}"
  return table.concat(out)
end

-- The report's columns as `spanline report` (by name) prints them.
function data.report_columns()
  local cols = {}
  for i, c in ipairs(require("spanline.report").COLUMNS) do cols[i] = c end
  cols[1] = { "key", "name", "str" }
  return cols
end

-- The report table's JSON alone (a live page's periodic update).
function Encoder:report(rows, columns)
  return report_json(rows, columns)
end

return data
