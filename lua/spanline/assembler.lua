-- assembler.lua: records -> span objects, in any arrival order.
--
-- Key idea: spans live in a table by id; a child whose parent has not been
-- seen is a provisional orphan (a root) parked under the missing id and
-- re-parented when that parent starts. Self time (duration minus the union
-- of the children's intervals clipped to the span) is recomputed when a
-- span ends or gains a child after ending. With `release`, an ended span
-- that no open span needs is forgotten (streaming queries); without it,
-- everything stays (trees, the viewer). spanline.query re-exports new() as
-- query.assembler().

local core = require("spanline.core")

local assembler = {}

-- ===== ATTRIBUTES =====

local cjson_decode
local function decode_attrs(text)
  if not text then return nil end
  if not cjson_decode then cjson_decode = require("cjson.safe").decode end
  local t = cjson_decode(text)
  if type(t) ~= "table" then return nil end
  return t
end

-- Attrs decode on first read of span.attrs (most queries never look).
local span_mt = {
  __index = function(s, k)
    if k == "attrs" then
      local list = rawget(s, "_attrs")
      if not list then return nil end
      local out = {}
      for _, text in ipairs(list) do
        local t = decode_attrs(text)
        if t then for key, v in pairs(t) do out[key] = v end end
      end
      rawset(s, "attrs", out)
      return out
    end
    return nil
  end,
}
assembler.span_mt = span_mt

local function add_attrs_text(s, text)
  if not text then return end
  local cached = rawget(s, "attrs")
  if cached then
    local t = decode_attrs(text)
    if t then for key, v in pairs(t) do cached[key] = v end end
    return
  end
  local list = rawget(s, "_attrs")
  if list then list[#list + 1] = text else s._attrs = { text } end
end

-- ===== SELF TIME =====

-- Duration minus the union of the children's intervals clipped to the span
-- (a child still open, or outliving its parent, counts up to the parent's end).
local function compute_self(s)
  local a, b = s.start, s.finish
  if not a or not b then
    s.self = nil
    return
  end
  local kids = s.children
  if #kids == 0 then
    s.self = b - a
    return
  end
  local iv = {}
  for _, c in ipairs(kids) do
    local cs, cf = c.start, c.finish or b
    if cs then
      if cs < a then cs = a end
      if cf > b then cf = b end
      if cf > cs then iv[#iv + 1] = { cs, cf } end
    end
  end
  table.sort(iv, function(x, y) return x[1] < y[1] end)
  local covered, cur_s, cur_f = 0, nil, nil
  for _, v in ipairs(iv) do
    if cur_f and v[1] <= cur_f then
      if v[2] > cur_f then cur_f = v[2] end
    else
      if cur_f then covered = covered + (cur_f - cur_s) end
      cur_s, cur_f = v[1], v[2]
    end
  end
  if cur_f then covered = covered + (cur_f - cur_s) end
  s.self = (b - a) - covered
end
assembler.compute_self = compute_self

-- ===== ASSEMBLER =====

local Assembler = {}
Assembler.__index = Assembler

-- opts.release: forget a span once it ended and nothing open needs it
-- (streaming); otherwise every span stays (the viewer, tree, tests).
-- opts.raw: keep each span's records' raw text in span.records.
function assembler.new(opts)
  opts = opts or {}
  return setmetatable({
    by_id = {},        -- id -> span (open, or kept)
    by_short = {},     -- last 16 hex digits -> span (W3C parents)
    waiting = {},      -- missing parent id -> { child spans }
    root_list = {},    -- spans without a known parent, in arrival order
    root_set = {},
    release = opts.release or false,
    raw = opts.raw or false,
    ready = {},        -- ended spans not yet handed out (streaming)
    ready_head = 1,
    open_count = 0,
    meta = nil,
  }, Assembler)
end

local function new_span(self, id)
  local s = setmetatable({
    id = id, status = "open", children = {}, depth = 0, events = {}, _open_kids = 0,
  }, span_mt)
  self.by_id[id] = s
  self.by_short[id:sub(17)] = s
  return s
end

local function set_depth(s, depth, trace)
  s.depth = depth
  if trace then s.trace = trace end
  for _, c in ipairs(s.children) do set_depth(c, depth + 1, trace and (c.has_trace and c.trace or trace)) end
end

local function add_root(self, s)
  if self.release then return end  -- streaming hands spans out; no root list
  if not self.root_set[s] then
    self.root_set[s] = true
    self.root_list[#self.root_list + 1] = s
  end
end

local function remove_root(self, s)
  if self.root_set[s] then
    self.root_set[s] = nil
    local list = self.root_list
    for i = #list, 1, -1 do
      if list[i] == s then table.remove(list, i) break end
    end
  end
end

local function link(self, parent, child)
  child.parent_span = parent
  child.orphan = false
  parent.children[#parent.children + 1] = child
  if child.status == "open" then parent._open_kids = parent._open_kids + 1 end
  set_depth(child, parent.depth + 1, not child.has_trace and parent.trace or nil)
  if parent.finish then compute_self(parent) end
end

-- Ended spans that nothing open refers to can be forgotten (streaming).
local function maybe_release(self, s)
  while s and self.release and s.status ~= "open" and s._open_kids == 0 and not s._released do
    s._released = true
    if self.by_id[s.id] == s then self.by_id[s.id] = nil end
    local tail = s.id:sub(17)
    if self.by_short[tail] == s then self.by_short[tail] = nil end
    if self.root_set[s] then remove_root(self, s) end
    if s._waiting_for then
      local list = self.waiting[s._waiting_for]
      if list then
        for i = #list, 1, -1 do if list[i] == s then table.remove(list, i) end end
        if #list == 0 then self.waiting[s._waiting_for] = nil end
      end
    end
    s = s.parent_span
  end
end

local function on_start(self, s, rec)
  s.name = rec.name
  s.start = rec.ts
  s.lane = rec.lane or 0
  s.line = rec.line
  if rec.trace then
    s.trace = rec.trace
    s.has_trace = true
  end
  local parent = rec.parent
  if parent then
    s.parent = parent
    local p
    if rec.parent_short then
      s.remote_parent = true
      p = self.by_short[parent]
    else
      p = self.by_id[parent]
    end
    if p and p ~= s then
      link(self, p, s)
    else
      s.orphan = true
      if not s.trace then s.trace = rec.parent_short and s.id or parent end
      if not rec.parent_short then
        local w = self.waiting[parent]
        if not w then
          w = {}
          self.waiting[parent] = w
        end
        w[#w + 1] = s
        s._waiting_for = parent
      end
      add_root(self, s)
    end
  else
    s.trace = s.trace or s.id
    add_root(self, s)
  end
  -- Children that arrived first: re-parent them under this span.
  local w = self.waiting[s.id]
  if w then
    self.waiting[s.id] = nil
    for _, c in ipairs(w) do
      c._waiting_for = nil
      remove_root(self, c)
      link(self, s, c)
    end
  end
  if s.finish then
    s.dur = s.finish - s.start
    compute_self(s)
  end
end

-- Adds one record (as core.reader's next() returns it). Returns the span it
-- touched (nil for meta records).
function Assembler:add(rec)
  local t = rec.type
  if t == "meta" then
    self.meta = self.meta or rec
    return nil
  end
  local id = rec.id
  if not id then return nil end
  local s = self.by_id[id]
  if not s then
    s = new_span(self, id)
    self.open_count = self.open_count + 1
  end
  if self.raw and rec.raw then
    local recs = s.records
    if not recs then
      recs = {}
      s.records = recs
    end
    recs[#recs + 1] = rec.foreign and core.record_jsonl(rec) or rec.raw
  end
  if t == "start" then
    if s.start == nil then on_start(self, s, rec) end
    add_attrs_text(s, rec.attrs_json)
  elseif t == "event" then
    s.events[#s.events + 1] = { name = rec.name, ts = rec.ts, attrs_json = rec.attrs_json,
                                attrs = rec.attrs_json and decode_attrs(rec.attrs_json) or {} }
  elseif t == "attr" then
    add_attrs_text(s, rec.attrs_json)
  elseif t == "end" then
    if s.status == "open" then
      self.open_count = self.open_count - 1
      s.status = rec.status or "ok"
      s.error = rec.error
      s.finish = rec.ts
      if s.start then s.dur = s.finish - s.start end
      compute_self(s)
      local p = s.parent_span
      if p then
        p._open_kids = p._open_kids - 1
        if p.finish then compute_self(p) end
      end
      if self.release then
        self.ready[#self.ready + 1] = s
        maybe_release(self, s)
      end
    end
  end
  return s
end

function Assembler:get(id) return self.by_id[id] end
function Assembler:roots() return self.root_list end

-- Every span still known, in no particular order.
function Assembler:spans()
  local out = {}
  for _, s in pairs(self.by_id) do out[#out + 1] = s end
  return out
end

-- Streaming: the next span that ended, or nil.
function Assembler:take()
  local i = self.ready_head
  local s = self.ready[i]
  if not s then return nil end
  self.ready[i] = nil
  if i >= #self.ready then
    self.ready, self.ready_head = {}, 1
  else
    self.ready_head = i + 1
  end
  return s
end

-- At EOF: the spans never ended, by start time (they are "open").
function Assembler:open_spans()
  local out = {}
  for _, s in pairs(self.by_id) do
    if s.status == "open" then out[#out + 1] = s end
  end
  table.sort(out, function(a, b)
    local x, y = a.start or 0, b.start or 0
    if x ~= y then return x < y end
    return a.id < b.id
  end)
  return out
end

return assembler
