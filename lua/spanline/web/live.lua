-- web/live.lua: what `spanline serve` streams: the file followed as it
-- grows (the viewer's source and store over the C assembler),
-- turned into page batches (web/data.lua) for every browser at once.
--
-- Key idea: records are read in slices bounded by a deadline on a luv
-- timer, so the loop is never blocked for long; each slice's changed spans
-- become ONE batch, encoded once and sent to every client. A span changes
-- its parent too (the parent's self time) and, when it first appears, the
-- children that were waiting for it (they are linked to it now). Spans
-- stay in the C store: a span's serial on the page is its ref there, and a
-- batch (or the report) reads them into tables that are dropped once it is
-- encoded, so memory follows the C store, not a Lua table per span.
local uv = require("luv")
local core = require("spanline.core")
local data = require("spanline.web.data")
local query = require("spanline.query")
local source_mod = require("spanline.view.source")
local store_mod = require("spanline.view.store")

local live = {}
live.__index = live

local POLL_MS = 100        -- follow: look for new records this often
local SLICE_NS = 30e6      -- read at most this long in one go
local REPORT_MS = 2000     -- recompute the report at most this often,
local REPORT_SHARE = 20    -- and at most once per this many times its own cost:
                           -- it reads every span, so a big file's report stays
                           -- under 5% of a CPU
local TICK_MS = 1000       -- send the clock this often (keeps idle streams alive too)

local function wall_ns()
  local s, us = uv.gettimeofday()
  return s * 1000000000 + us * 1000
end

-- Opens path for following. opts: file (its name on the page). Returns a
-- live source, or nil, message, code.
function live.open(path, opts)
  opts = opts or {}
  local store = store_mod.new()
  store.clock = wall_ns
  local src, msg, code = source_mod.open(path, { store = store, follow = true })
  if not src then return nil, msg, code end
  return setmetatable({
    store = store, source = src, enc = data.encoder(), file = opts.file or path, sent = {},
    report_dirty = true, report_at = 0, state = "more",
  }, live)
end

-- The refs a batch must carry for the spans that changed. Children
-- waiting for a parent are linked when its start arrives, so a span's
-- children go too the first time it goes out with a start; sent[ref] is the
-- start it last went out with (false: none yet).
local function widen(asm, sent, changed)
  local out, seen = {}, {}
  local function add(r)
    if r and not seen[r] then
      seen[r] = true
      out[#out + 1] = r
    end
  end
  for _, r in ipairs(changed) do
    add(r)
    add(asm:parent(r))
    if sent[r] ~= (asm:start(r) or false) then
      for _, c in ipairs(asm:children(r)) do add(c) end
    end
  end
  for _, r in ipairs(out) do sent[r] = asm:start(r) or false end
  return out
end

-- The encoder's view of the spans at refs: the span at position i read
-- into one table on demand (the encoder holds one span at a time), its
-- serial its ref, its parent a stub that carries the parent's serial.
local function span_list(asm, refs)
  local one, parent = {}, {}
  return {
    n = #refs,
    get = function(i)
      local r = refs[i]
      asm:span(r, nil, one)
      one._web = r
      local p = asm:parent(r)
      if p then
        parent._web = p
        one.parent_span = parent
      else
        one.parent_span = nil
      end
      return one
    end,
  }
end

local function all_refs(store)
  local refs = {}
  for r = 0, store.asm:stats().spans - 1 do refs[r + 1] = r end
  return refs
end

function live:info()
  local meta = self.store:meta() or {}
  return {
    file = self.file, service = meta.service, host = meta.host, pid = meta.pid,
    bad_lines = self.store.bad, records = self.store.records, live = true,
  }
end

local REPORT_FIELDS = core.span_fields({ "name", "dur", "status", "self" })

-- The report over every span, streamed through one reused table.
function live:report_rows()
  local asm, n, r = self.store.asm, self.store.asm:stats().spans, -1
  local one = {}
  local spans = query.from_iter(function()
    r = r + 1
    if r >= n then return nil end
    return asm:span(r, REPORT_FIELDS, one)
  end)
  return { rows = spans:group_by("name"):stats(), columns = data.report_columns() }
end

-- The first event a new client gets: every span, the report, the info.
function live:snapshot()
  local text = self.enc:batch(span_list(self.store.asm, all_refs(self.store)), {
    snapshot = true, now = wall_ns(), info = self:info(), report = self:report_rows(),
  })
  return "event: snapshot\ndata: " .. text .. "\n\n"
end

-- Reads one slice; returns the batch of changed spans (JSON) or nil.
function live:read()
  self.state = self.source:read(uv.hrtime() + SLICE_NS)
  local changed = self.store:drain()
  if #changed == 0 then return nil end
  self.report_dirty = true
  local refs = widen(self.store.asm, self.sent, changed)
  return self.enc:batch(span_list(self.store.asm, refs), { now = wall_ns(), info = self:info() })
end

-- Follows the file and feeds server:broadcast until stop().
function live:run(server)
  local poll = uv.new_timer()
  local tick = uv.new_timer()
  self.timers = { poll, tick }
  local function step()
    local batch = self:read()
    if batch then server:broadcast("spans", batch) end
    if self.state == "error" then
      io.stderr:write("spanline serve: ", tostring(self.source.error_text), "\n")
    end
    -- more to read right away: come back at once, else poll
    poll:start(self.state == "more" and 0 or POLL_MS, 0, step)
  end
  poll:start(0, 0, step)
  tick:start(TICK_MS, TICK_MS, function()
    local now = uv.now()
    local wait = math.max(REPORT_MS, REPORT_SHARE * (self.report_ms or 0))
    if self.report_dirty and now - self.report_at >= wait and server:client_count() > 0 then
      self.report_dirty = false
      self.report_at = now
      local r = self:report_rows()
      uv.update_time()
      self.report_ms = uv.now() - now
      server:broadcast("report", self.enc:report(r.rows, r.columns))
    end
    if self.enc.base then
      server:broadcast("tick", string.format('{"now":%d}', wall_ns() - self.enc.base))
    end
  end)
end

function live:stop()
  for _, t in ipairs(self.timers or {}) do
    t:stop()
    if not t:is_closing() then t:close() end
  end
  self.source:close()
end

return live
