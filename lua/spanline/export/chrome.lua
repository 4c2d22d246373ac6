-- export/chrome.lua: spans as Trace Event Format JSON, for Perfetto UI
-- (ui.perfetto.dev: "Open trace file") and chrome://tracing.
--
-- Each span is a complete event (ph "X", ts and dur in microseconds, with the
-- nanoseconds kept as three decimals), each span event an instant event
-- (ph "i") on the span's track; pid is the process of the meta record, tid
-- the span's lane, named by metadata events (ph "M").
--
-- Key idea: viewers draw the X events of one tid as a stack, so they must
-- nest. Spans arrive in end order (children before their parents), so for
-- each track it is enough to keep the "frontier": the outermost spans placed
-- so far. A new span swallows the frontier spans that start inside it; if
-- the one left below still overlaps it (a span finished out of order, or a
-- span not made current), the span tries the lane's next overflow track.
-- Frontiers are capped, so memory stays bounded whatever the file size.

local chrome = { summary = "Trace Event Format JSON (Perfetto UI, chrome://tracing)" }

local MAX_TRACKS = 8          -- per lane: the lane's own track, then overflow tracks
local TRACK_TID = 1000000     -- overflow track k of lane L: tid L + k * TRACK_TID
local MAX_FRONTIER = 256      -- spans remembered per track
local MAX_LANES = 4096        -- lanes with a frontier (least recently used dropped)

local json = require("spanline.json")

-- args: an object, also when empty (json.value writes an empty table as []).
local function object(t)
  if next(t) == nil then return "{}" end
  return json.value(t)
end

-- Microseconds with three decimals, from integer nanoseconds (exact text).
local function us(ns)
  if ns < 0 then return "-" .. us(-ns) end
  return string.format("%d.%03d", ns // 1000, ns % 1000)
end
chrome.us = us

-- ===== TRACKS =====

local Tracks = {}
Tracks.__index = Tracks

local function new_tracks()
  return setmetatable({ lanes = {}, lru = {}, nlanes = 0, tick = 0, named = {} }, Tracks)
end

-- The frontiers of a lane (an array of tracks, each a stack of {start, finish}).
function Tracks:lane(lane)
  self.tick = self.tick + 1
  local l = self.lanes[lane]
  if not l then
    if self.nlanes >= MAX_LANES then
      local oldest, at
      for k, t in pairs(self.lru) do
        if not at or t < at then oldest, at = k, t end
      end
      self.lanes[oldest], self.lru[oldest] = nil, nil
      self.nlanes = self.nlanes - 1
    end
    l = {}
    self.lanes[lane] = l
    self.nlanes = self.nlanes + 1
  end
  self.lru[lane] = self.tick
  return l
end

-- Places [start, finish] on a track of its lane; returns the track number.
-- Spans must come in end order (for spans with the same end, inner first).
function Tracks:place(lane, start, finish)
  local l = self:lane(lane)
  for k = 0, MAX_TRACKS - 1 do
    local f = l[k + 1]
    if not f then
      f = {}
      l[k + 1] = f
    end
    local n = #f
    local top = n
    while top > 0 and f[top][1] >= start do top = top - 1 end
    if top == 0 or f[top][2] <= start or k == MAX_TRACKS - 1 then
      for i = n, top + 1, -1 do f[i] = nil end
      f[top + 1] = { start, finish }
      if top + 1 > MAX_FRONTIER then table.remove(f, 1) end
      return k
    end
  end
end

-- ===== EXPORT =====

-- chrome.export(q, out, opts) -> true | nil, message, code.
-- opts.include_open: spans still open at the end, ended at the last
-- timestamp seen (args["spanline.open"] = true).
function chrome.export(q, out, opts)
  opts = opts or {}
  local spans = q.kind == "spans" and q or q:spans()
  local meta_done = false
  local pid = 1
  local tracks = new_tracks()
  local first = true
  local last_ts = 0
  local open = {}

  local function emit(ev)
    out:write(first and "\n" or ",\n", ev)
    first = false
  end

  local function name_track(lane, k)
    local tid = lane + k * TRACK_TID
    if tracks.named[tid] then return tid end
    tracks.named[tid] = true
    local label = k == 0 and ("lane " .. lane) or string.format("lane %d (overlapping %d)", lane, k)
    emit(string.format('{"name":"thread_name","ph":"M","pid":%d,"tid":%d,"args":{"name":%s}}',
      pid, tid, json.string(label)))
    emit(string.format('{"name":"thread_sort_index","ph":"M","pid":%d,"tid":%d,"args":{"sort_index":%d}}',
      pid, tid, tid))
    return tid
  end

  local function span_event(s, finish, is_open)
    local lane = s.lane or 0
    local tid = name_track(lane, tracks:place(lane, s.start, finish))
    local args = {}
    local attrs = s.attrs
    if attrs then for k, v in pairs(attrs) do args[k] = v end end
    args["spanline.id"] = s.id
    args["spanline.trace"] = s.trace
    args["spanline.parent"] = s.parent
    args["spanline.status"] = is_open and "open" or s.status
    args["spanline.error"] = s.error
    if is_open then args["spanline.open"] = true end
    local ev = string.format('{"name":%s,"cat":"span","ph":"X","ts":%s,"dur":%s,"pid":%d,"tid":%d,"args":%s}',
      json.string(s.name or "?"), us(s.start), us(finish - s.start), pid, tid, object(args))
    emit(ev)
    for _, e in ipairs(s.events or {}) do
      local eargs = e.attrs or {}
      emit(string.format('{"name":%s,"cat":"event","ph":"i","s":"t","ts":%s,"pid":%d,"tid":%d,"args":%s}',
        json.string(e.name or "?"), us(e.ts), pid, tid, object(eargs)))
    end
  end

  out:write('{"displayTimeUnit":"ms","traceEvents":[')
  local ok, err = pcall(function()
    for s in spans:iter() do
      if not meta_done then
        meta_done = true
        local meta = q:meta() or spans:meta()
        if meta then
          pid = math.tointeger(meta.pid) or pid
          emit(string.format('{"name":"process_name","ph":"M","pid":%d,"args":{"name":%s}}',
            pid, json.string(meta.service or ("pid " .. pid))))
        end
      end
      if s.start then
        local f = s.finish or s.start
        if f > last_ts then last_ts = f end
        if s.start > last_ts then last_ts = s.start end
        for _, e in ipairs(s.events or {}) do
          if e.ts and e.ts > last_ts then last_ts = e.ts end
        end
        if s.status == "open" then
          if opts.include_open then open[#open + 1] = s end
        else
          span_event(s, s.finish, false)
        end
      end
    end
  end)
  if not ok then return nil, tostring(err), "EIO" end
  -- Open spans all end "now": inner ones (later starts) first, so they nest.
  table.sort(open, function(a, b) return a.start > b.start end)
  for _, s in ipairs(open) do span_event(s, math.max(last_ts, s.start), true) end
  out:write("\n]}\n")
  return true
end

return chrome
