-- store.lua: what the viewer knows so far: the query assembler's spans plus
-- the little the views need on top (arrival order, per-trace time ranges,
-- counts, the latest timestamp, which spans changed since the last frame).
--
-- Records go in one at a time (`add`), from the reader while loading or
-- following; the views only read. Everything here is O(1) per record.
-- Nothing is stored on the span objects: a span's previous status is read
-- before the assembler applies the record, and the changed set lives here
-- until the next drain.

local store = {}
store.__index = store

-- asm: an object with :add(record), :get(id), :roots() (query.assembler()).
function store.new(asm)
  local self = setmetatable({}, store)
  self.asm = asm
  self.list = {}          -- spans in the order they were first seen
  self.ranges = {}        -- trace key -> { lo, hi, open }
  self.max_ts = nil       -- latest timestamp seen
  self.min_ts = nil
  self.version = 0        -- bumped per batch of records
  self.changed = {}       -- spans changed since the last drain
  self.changed_set = {}   -- the same, as a set (each span listed once)
  self.track = true       -- false: no change list (plain output reads once)
  self.skipped = nil      -- with a trace filter: spans not wanted when seen
  self.counts = { spans = 0, open = 0, errors = 0, abandoned = 0 }
  self.records = 0
  self.traces = 0         -- distinct trace ids
  self.bad = 0            -- lines the reader skipped
  self.clock = nil        -- function giving "now" for open spans (live views)
  self.get = function(id) return asm:get(id) end
  self.roots = function()
    local roots = asm:roots()
    if not self.trace_filter then return roots end
    local out = {}
    for _, s in ipairs(roots) do
      if self:wanted(s) then out[#out + 1] = s end
    end
    return out
  end
  return self
end

-- The parent span object, or nil for a root or an orphan. The assembler's
-- parent_span link is used when present: a remote (16-hex) parent id that
-- matched a local span is not a key of get().
function store:parent(s)
  local p = rawget(s, "parent_span")
  if p then return p end
  local id = rawget(s, "parent")
  if id == nil or rawget(s, "orphan") then return nil end
  return self.get(id)
end

-- With --trace ID only spans of traces whose id starts with ID count.
function store:wanted(s)
  local f = self.trace_filter
  if not f then return true end
  local t = s.trace or s.id or ""
  return t:sub(1, #f) == f
end

local function trace_key(s)
  return rawget(s, "trace") or s.id
end

local STATUS_COUNT = { open = "open", error = "errors", abandoned = "abandoned" }

-- Updates the bookkeeping for a span that was created or changed; prev is
-- its status before the change (nil: a span not seen before). Fields a
-- span may lack are read with rawget: query's spans have an __index (for
-- lazy attrs) that a plain missing-field read would call.
function store:note(s, prev)
  if self.trace_filter then
    if not self:wanted(s) then
      self.skipped = self.skipped or setmetatable({}, { __mode = "k" })
      self.skipped[s] = true
      return
    end
    local sk = self.skipped
    if sk and sk[s] then
      sk[s] = nil
      prev = nil     -- first time it counts
    end
  end
  local counts = self.counts
  local st = rawget(s, "status") or "open"
  local key = rawget(s, "trace") or s.id
  local r = self.ranges[key]
  if not r then
    r = { open = 0 }
    self.ranges[key] = r
    self.traces = self.traces + 1
  end
  if prev == nil then
    local list = self.list
    list[#list + 1] = s
    counts.spans = counts.spans + 1
  end
  if st ~= prev then
    local c = STATUS_COUNT[prev]
    if c then counts[c] = counts[c] - 1 end
    c = STATUS_COUNT[st]
    if c then counts[c] = counts[c] + 1 end
    if prev == "open" then r.open = r.open - 1 end
    if st == "open" then r.open = r.open + 1 end
  end
  local a = rawget(s, "start")
  if a then
    local b = rawget(s, "finish") or a
    local lo, hi = r.lo, r.hi
    if lo == nil or a < lo then r.lo = a end
    if hi == nil or b > hi then r.hi = b end
    local mx, mn = self.max_ts, self.min_ts
    if mx == nil or b > mx then self.max_ts = b end
    if mn == nil or a < mn then self.min_ts = a end
  end
  if self.track and not self.changed_set[s] then
    self.changed_set[s] = true
    local changed = self.changed
    changed[#changed + 1] = s
  end
end

-- Feeds one reader record to the assembler and notes the span it touched.
function store:add(rec)
  self.records = self.records + 1
  local ts = rec.ts
  if ts and (self.max_ts == nil or ts > self.max_ts) then self.max_ts = ts end
  local id = rec.id
  local before = id and self.asm:get(id)
  local prev = before and (rawget(before, "status") or "open") or nil
  local s = self.asm:add(rec)
  if type(s) ~= "table" and id then s = self.asm:get(id) end
  if s then
    if s ~= before then prev = nil end
    self:note(s, prev)
  end
end

-- The spans changed since the last call (and a new version number).
function store:drain()
  local changed = self.changed
  if #changed == 0 then return changed end
  self.changed, self.changed_set = {}, {}
  self.version = self.version + 1
  return changed
end

-- "now" for open spans: the live clock when following, else the last
-- timestamp in the stream (so a finished file reads the same every time).
function store:now()
  local now = self.max_ts or 0
  if self.clock then
    local c = self.clock()
    if c > now then now = c end
  end
  return now
end

-- The time range a span's bar is drawn in: its trace's first start to its
-- last end (now, while a span of the trace is open).
function store:range(s)
  local r = self.ranges[trace_key(s)]
  if not r or not r.lo then return s.start or 0, s.finish or s.start or 0 end
  local hi = r.hi or r.lo
  if r.open > 0 then
    local now = self:now()
    if now > hi then hi = now end
  end
  return r.lo, hi
end

return store
