-- web/live.lua: what `spanline serve` streams: the file followed as it
-- grows (the viewer's source and store over the C assembler),
-- turned into page batches (web/data.lua) for every browser at once.
--
-- Key idea: records are read in slices bounded by a deadline on a luv
-- timer, so the loop is never blocked for long; each slice's changed spans
-- become ONE batch, encoded once and sent to every client. A span changes
-- its parent too (the parent's self time) and, when it first appears, the
-- children that were waiting for it (they are linked to it now).

local uv = require("luv")
local data = require("spanline.web.data")
local query = require("spanline.query")
local source_mod = require("spanline.view.source")
local store_mod = require("spanline.view.store")

local live = {}
live.__index = live

local POLL_MS = 100        -- follow: look for new records this often
local SLICE_NS = 30e6      -- read at most this long in one go
local REPORT_MS = 2000     -- recompute the report at most this often
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
    store = store, source = src, enc = data.encoder(), file = opts.file or path,
    report_dirty = true, report_at = 0, state = "more",
  }, live)
end

-- The spans a batch must carry for the spans that changed. Children
-- waiting for a parent are linked when its start arrives, so a span's
-- children go too the first time it goes out with a start; `_live` on a
-- span (its second private field, after the encoder's `_web`) is the start
-- it last went out with (false: none yet).
local function widen(changed)
  local out, seen = {}, {}
  local function add(s)
    if s and not seen[s] then
      seen[s] = true
      out[#out + 1] = s
    end
  end
  for _, s in ipairs(changed) do
    add(s)
    add(rawget(s, "parent_span"))
    local start = rawget(s, "start") or false
    if rawget(s, "_live") ~= start then
      for _, c in ipairs(s.children) do add(c) end
    end
  end
  for _, s in ipairs(out) do s._live = rawget(s, "start") or false end
  return out
end

function live:info()
  local meta = self.store:meta() or {}
  return {
    file = self.file, service = meta.service, host = meta.host, pid = meta.pid,
    bad_lines = self.store.bad, records = self.store.records, live = true,
  }
end

function live:report_rows()
  return { rows = query.from_spans(self.store:objects()):group_by("name"):stats(), columns = data.report_columns() }
end

-- The first event a new client gets: every span, the report, the info.
function live:snapshot()
  local text = self.enc:batch(self.store:objects(), {
    snapshot = true, now = wall_ns(), info = self:info(), report = self:report_rows(),
  })
  return "event: snapshot\ndata: " .. text .. "\n\n"
end

-- Reads one slice; returns the batch of changed spans (JSON) or nil.
function live:read()
  self.state = self.source:read(uv.hrtime() + SLICE_NS)
  local changed = self.store:objects(self.store:drain())
  if #changed == 0 then return nil end
  self.report_dirty = true
  return self.enc:batch(widen(changed), { now = wall_ns(), info = self:info() })
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
    if self.report_dirty and now - self.report_at >= REPORT_MS and server:client_count() > 0 then
      self.report_dirty = false
      self.report_at = now
      local r = self:report_rows()
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
