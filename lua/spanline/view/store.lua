-- store.lua: what the viewer knows so far: the C assembler keeping every
-- span (core.assembler, keep mode) and the little the views read on top:
-- counts, each trace's time range, the spans changed since the last frame.
--
-- Key idea: a span is a ref (an integer) here; its fields live in C and
-- are read (store:span) only for the rows drawn, so the viewer holds no
-- Lua value per span. Records go from the reader into the assembler in C
-- (store:feed), a slice at a time; store:add takes one record table
-- (tests).

local core = require("spanline.core")

local store = {}
store.__index = store

-- opts: trace (only traces whose id starts with it count and show),
-- track (false: no change list; the plain printer reads once).
function store.new(opts)
  opts = opts or {}
  local self = setmetatable({}, store)
  self.asm = core.assembler({ mode = "keep" })
  self.trace_filter = opts.trace
  self.track = opts.track ~= false
  self.asm:track(self.track)
  self.version = 0        -- bumped per drain that had changes
  self.counts = { spans = 0, open = 0, errors = 0, abandoned = 0 }
  self.records = 0
  self.metas = 0          -- of those, meta records
  self.traces = 0         -- distinct traces
  self.bad = 0            -- lines the reader skipped
  self.max_ts = nil       -- latest timestamp seen
  self.min_ts = nil       -- earliest start
  self.clock = nil        -- function giving "now" for open spans (live views)
  return self
end

-- Takes the assembler's counts (only the chosen trace's with a filter).
function store:refresh()
  local st = self.asm:stats()
  self.records = st.records
  self.metas = st.metas
  self.max_ts = st.max_ts
  local sums = self.trace_filter and self.asm:trace_sums(self.trace_filter) or st
  local c = self.counts
  c.spans, c.open, c.errors, c.abandoned = sums.spans, sums.open, sums.errors, sums.abandoned
  self.traces = sums.traces
  self.min_ts = sums.min_start
end

-- Reads at most max records (nil: up to the end) from a core.reader:
-- "more", "eof", "again" (following: no data yet), or nil and a message.
function store:feed(reader, max)
  local state, n = self.asm:feed(reader, max)
  if state == nil then return nil, n end
  self:refresh()
  return state, n
end

-- Adds one record table (as core.reader returns them, or built by hand).
function store:add(rec)
  self.asm:add(rec)
  self:refresh()
end

-- The spans changed since the last call (refs, each once) and a new
-- version number; nothing without tracking.
function store:drain()
  if not self.track then return {} end
  local changed = self.asm:changes()
  if #changed > 0 then
    self.version = self.version + 1
    self:widen(self.asm:widths(changed))
  end
  return changed
end

-- ===== WIDTHS =====

-- Takes in what asm:widths measured: the widest error message, and the
-- widest name per depth.
function store:widen(err, names)
  local w = self.measured
  if not w then
    w = { error = 0, names = {} }
    self.measured = w
  end
  if err > w.error then w.error = err end
  for d, n in ipairs(names) do
    if n > (w.names[d] or 0) then w.names[d] = n end
  end
end

-- { error = widest error message, names = { [depth + 1] = widest name } }
-- in columns, over the spans so far (a view shares its columns out by
-- them): kept up to date by drain, or measured over every span when no
-- change list is kept (the plain printer reads once) or nothing was
-- drained yet.
function store:widths()
  if (not self.track or not self.measured) and self.measured_at ~= self.records then
    self.measured, self.measured_at = nil, self.records
    self:widen(self.asm:widths())
  end
  return self.measured or { error = 0, names = {} }
end

-- ===== SPANS BY REF =====

-- The span with this id (32 hex digits), as a ref, or nil.
function store:find(id)
  return self.asm:find(id)
end

-- A span's fields as a table (for a row drawn, the details pane).
function store:span(ref, fields)
  return self.asm:span(ref, fields)
end

function store:name(ref) return self.asm:name(ref) end
function store:start(ref) return self.asm:start(ref) end
function store:nchildren(ref) return self.asm:nchildren(ref) end

-- The parent's ref, or nil for a root or an orphan.
function store:parent(ref)
  return self.asm:parent(ref)
end

-- With a trace filter, is this root's trace the chosen one?
function store:wanted(ref)
  local f = self.trace_filter
  if not f then return true end
  local s = self.asm:span(ref, self.trace_field)
  local t = s.trace or s.id or ""
  return t:sub(1, #f) == f
end
store.trace_field = core.span_fields({ "id", "trace" })

-- Root refs (roots and orphans) by start, the chosen trace's only.
function store:roots()
  local roots = self.asm:roots(true)
  if not self.trace_filter then return roots end
  local out = {}
  for _, r in ipairs(roots) do
    if self:wanted(r) then out[#out + 1] = r end
  end
  return out
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
function store:range(ref)
  local lo, hi, open = self.asm:trace_range(ref)
  if not lo then
    local s = self.asm:span(ref, self.range_fields)
    return s.start or 0, s.finish or s.start or 0
  end
  if open > 0 then
    local now = self:now()
    if now > hi then hi = now end
  end
  return lo, hi
end
store.range_fields = core.span_fields({ "start", "finish" })

-- The stream's first meta record (a table), or nil.
function store:meta()
  local line = self.asm:meta()
  return line and core.reader_string(line):next() or nil
end

return store
