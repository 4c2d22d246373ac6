-- assembler.lua: records -> span objects, in any arrival order.
--
-- Key idea: spans live in a table by id; a child whose parent has not been
-- seen is a provisional orphan (a root) parked under the missing id and
-- re-parented when that parent starts. Self time (duration minus the union
-- of the children's intervals clipped to the span) is computed when a span
-- ends or gains a child after ending. With `release`, an ended span that no
-- open span needs is forgotten (streaming queries); without it, everything
-- stays (trees, the viewer). spanline.query re-exports new() as
-- query.assembler().
--
-- Memory: a span is one table built by one constructor (so Lua sizes its
-- hash part once, 16 slots) holding only the fields it has: events,
-- children, depth and orphan default through a shared metatable whose
-- __index is a plain table (no function call): EMPTY (one shared read-only
-- table) for events and children, 0, false. Only a span whose attrs text
-- is not decoded yet has a metatable with an __index function (decodes
-- attrs on first read). attrs are nil when there are none.
-- Bad input never breaks it: a parent cycle is cut at the span that would
-- close it (left an orphan, marked `cycle = true`, counted in asm.cycles),
-- and every walk is iterative.

local core = require("spanline.core")

local assembler = {}

-- One shared, read-only empty table for events and children that have
-- nothing (most spans have neither); attrs stay nil when there are none.
local EMPTY = setmetatable({}, {
  __newindex = function() error("span field table is the shared EMPTY table (read-only)", 2) end,
  __metatable = false,
})
assembler.EMPTY = EMPTY

-- ===== ATTRIBUTES =====

local cjson_decode
local function decode_attrs(text)
  if not text then return nil end
  if not cjson_decode then cjson_decode = require("cjson.safe").decode end
  local t = cjson_decode(text)
  if type(t) ~= "table" then return nil end
  return t
end

local function merge_text(out, text)
  local t = decode_attrs(text)
  if t then for key, v in pairs(t) do out[key] = v end end
end

-- Defaults of the fields most spans do not have (a leaf has no events and
-- no children; a root has depth 0; a linked span is not an orphan).
local DEFAULTS = { events = EMPTY, children = EMPTY, depth = 0, orphan = false }
local plain_mt = { __index = DEFAULTS }
assembler.plain_mt = plain_mt

-- Spans with attrs text not decoded yet carry this metatable instead: attrs
-- decode on first read (most queries never look), then it is swapped back.
local span_mt = {}
span_mt.__index = function(s, k)
  if k ~= "attrs" then return DEFAULTS[k] end
  local pending = rawget(s, "_attrs")
  local out = {}
  if type(pending) == "string" then
    merge_text(out, pending)
  elseif pending then
    for i = 1, #pending do merge_text(out, pending[i]) end
  end
  rawset(s, "_attrs", nil)
  rawset(s, "attrs", out)
  setmetatable(s, plain_mt)
  return out
end
assembler.span_mt = span_mt

local function add_attrs_text(s, text)
  if not text then return end
  local cached = rawget(s, "attrs")
  if cached then
    merge_text(cached, text)
    return
  end
  local pending = rawget(s, "_attrs")
  if pending == nil then
    s.attrs = nil
    s._attrs = text
    setmetatable(s, span_mt)
  elseif type(pending) == "string" then
    s._attrs = { pending, text }
  else
    pending[#pending + 1] = text
  end
end

-- ===== SELF TIME =====

local scratch = {}
local function start_before(x, y) return x.start < y.start end

-- Duration minus the union of the children's intervals clipped to the span
-- (a child still open, or outliving its parent, counts up to the parent's
-- end). One sweep in start order; children usually arrive sorted, else a
-- reused scratch array is sorted (no table per child, no closure per call).
local function compute_self(s)
  local a, b = s.start, s.finish
  if not a or not b then
    s.self = nil
    return
  end
  local kids = s.children
  local n = kids and #kids or 0
  if n == 0 then
    s.self = b - a
    return
  end
  local list, m = kids, n
  local prev = nil
  for i = 1, n do
    local cs = kids[i].start
    if cs == nil or (prev and cs < prev) then list = nil break end
    prev = cs
  end
  if not list then
    list, m = scratch, 0
    for i = 1, n do
      local c = kids[i]
      if c.start then
        m = m + 1
        list[m] = c
      end
    end
    table.sort(list, start_before)
  end
  local covered, cur_s, cur_f = 0, nil, nil
  for i = 1, m do
    local c = list[i]
    local cs, cf = c.start, c.finish or b
    if cs < a then cs = a end
    if cf > b then cf = b end
    if cf > cs then
      if cur_f and cs <= cur_f then
        if cf > cur_f then cur_f = cf end
      else
        if cur_f then covered = covered + (cur_f - cur_s) end
        cur_s, cur_f = cs, cf
      end
    end
  end
  if cur_f then covered = covered + (cur_f - cur_s) end
  if list == scratch then for i = 1, m do scratch[i] = nil end end
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
    by_short = nil,    -- last 16 hex digits -> span, built when a W3C parent shows up
    waiting = {},      -- missing parent id -> { child spans }
    waiting_for = {},  -- provisional orphan -> the parent id it waits for
    no_trace = {},     -- spans whose records carry no trace (they inherit it)
    root_list = {},    -- spans without a known parent, in arrival order
    root_set = {},
    root_dirty = false,
    release = opts.release or false,
    raw = opts.raw or false,
    ready = {},        -- ended spans not yet handed out (streaming)
    ready_head = 1,
    open_count = 0,
    cycles = 0,        -- parent links refused because they would close a cycle
    meta = nil,
  }, Assembler)
end

-- One constructor with the fields a span gets at its start; the nil ones
-- listed make Lua size the hash part to 16 slots at once, which holds a
-- linked, ended span (id trace parent name start status lane line depth
-- parent_span finish dur self) with room for attrs, children or a caller's
-- two private fields.
local function new_span(self, id, rec)
  local s
  if rec then
    s = { id = id, trace = rec.trace, parent = rec.parent, name = rec.name, start = rec.ts,
          status = "open", lane = rec.lane or 0, line = rec.line, parent_span = nil, finish = nil }
  else
    s = { id = id, trace = nil, parent = nil, name = nil, start = nil,
          status = "open", lane = nil, line = nil, parent_span = nil, finish = nil }
  end
  setmetatable(s, plain_mt)
  if self.release then s._open_kids = 0 end
  self.by_id[id] = s
  local short = self.by_short
  if short then short[id:sub(17)] = s end
  return s
end

-- The first W3C (16-hex) parent: index every known span by its id's tail.
local function short_index(self)
  local short = self.by_short
  if short then return short end
  short = {}
  for id, s in pairs(self.by_id) do short[id:sub(17)] = s end
  self.by_short = short
  return short
end

-- Depths (and inherited traces) of s's subtree, without recursion.
local function set_depth(self, s, depth, trace)
  s.depth = depth
  if trace then s.trace = trace end
  if s.children == EMPTY then return end
  local no_trace = self.no_trace
  local stack, n = { s }, 1
  while n > 0 do
    local p = stack[n]
    stack[n] = nil
    n = n - 1
    local d, t = p.depth + 1, trace and p.trace
    local kids = p.children
    for i = 1, #kids do
      local c = kids[i]
      c.depth = d
      if t and no_trace[c] then c.trace = t end
      if c.children ~= EMPTY then
        n = n + 1
        stack[n] = c
      end
    end
  end
end

local function add_root(self, s)
  if self.release then return end  -- streaming hands spans out; no root list
  if not self.root_set[s] then
    self.root_set[s] = true
    self.root_list[#self.root_list + 1] = s
  end
end

-- Removal is lazy (roots() compacts): re-parenting many early children
-- stays linear.
local function remove_root(self, s)
  if self.root_set[s] then
    self.root_set[s] = nil
    self.root_dirty = true
  end
end

-- Is a an ancestor of (or equal to) b? Walks b's parent links (no cycles
-- exist: link refuses them).
local function is_ancestor(a, b)
  while b do
    if b == a then return true end
    b = b.parent_span
  end
  return false
end

-- Links child under parent; false (and the child marked and counted) when
-- that would close a parent cycle.
local function link(self, parent, child)
  -- Only a span that already has children can be an ancestor of parent.
  if child == parent or (child.children ~= EMPTY and is_ancestor(child, parent)) then
    self.cycles = self.cycles + 1
    child.cycle = true
    child.orphan = true
    return false
  end
  child.parent_span = parent
  if rawget(child, "orphan") ~= nil then child.orphan = nil end  -- default false
  local kids = parent.children
  if kids == EMPTY then parent.children = { child } else kids[#kids + 1] = child end
  if self.release and child.status == "open" then parent._open_kids = parent._open_kids + 1 end
  set_depth(self, child, parent.depth + 1, self.no_trace[child] and parent.trace or nil)
  if parent.finish then compute_self(parent) end
  return true
end

-- Ended spans that nothing open refers to can be forgotten (streaming).
local function maybe_release(self, s)
  while s and self.release and s.status ~= "open" and s._open_kids == 0 and not s._released do
    s._released = true
    if self.by_id[s.id] == s then self.by_id[s.id] = nil end
    local short = self.by_short
    if short then
      local tail = s.id:sub(17)
      if short[tail] == s then short[tail] = nil end
    end
    self.no_trace[s] = nil
    local wf = self.waiting_for[s]
    if wf then
      self.waiting_for[s] = nil
      local list = self.waiting[wf]
      if list then
        for i = #list, 1, -1 do if list[i] == s then table.remove(list, i) end end
        if #list == 0 then self.waiting[wf] = nil end
      end
    end
    s = s.parent_span
  end
end

local function make_orphan(self, s, parent, short)
  s.orphan = true
  if not s.trace then s.trace = short and s.id or parent end
  add_root(self, s)
end

local function on_start(self, s, rec)
  s.name = rec.name
  s.start = rec.ts
  s.lane = rec.lane or 0
  s.line = rec.line
  if rec.trace then
    s.trace = rec.trace
  else
    self.no_trace[s] = true
  end
  local parent = rec.parent
  if parent then
    s.parent = parent
    local p
    local short = rec.parent_short
    if short then
      s.remote_parent = true
      p = short_index(self)[parent]
    else
      p = self.by_id[parent]
    end
    if p and p ~= s then
      if not link(self, p, s) then make_orphan(self, s, parent, short) end
    elseif p == s then
      -- Its own parent: a one-span cycle.
      self.cycles = self.cycles + 1
      s.cycle = true
      make_orphan(self, s, parent, short)
    else
      make_orphan(self, s, parent, short)
      if not short then
        local w = self.waiting[parent]
        if not w then
          w = {}
          self.waiting[parent] = w
        end
        w[#w + 1] = s
        self.waiting_for[s] = parent
      end
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
      self.waiting_for[c] = nil
      if link(self, s, c) then remove_root(self, c) end
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
  local fresh = false
  if not s then
    s = new_span(self, id, t == "start" and rec or nil)
    fresh = true
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
    if fresh or s.start == nil then on_start(self, s, rec) end
    add_attrs_text(s, rec.attrs_json)
  elseif t == "event" then
    local ev = { name = rec.name, ts = rec.ts, attrs_json = rec.attrs_json,
                 attrs = rec.attrs_json and decode_attrs(rec.attrs_json) or EMPTY }
    local events = s.events
    if events == EMPTY then s.events = { ev } else events[#events + 1] = ev end
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
        if self.release then p._open_kids = p._open_kids - 1 end
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

-- Spans without a known parent (orphans included), in arrival order.
function Assembler:roots()
  if self.root_dirty then
    local set, list, seen, n = self.root_set, self.root_list, {}, 0
    for i = 1, #list do
      local s = list[i]
      list[i] = nil
      if set[s] and not seen[s] then
        seen[s] = true
        n = n + 1
        list[n] = s
      end
    end
    self.root_dirty = false
  end
  return self.root_list
end

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

-- Spans already handed out (e.g. by a streaming query, which forgets a
-- parent once it and its known children ended): links each span whose
-- parent is in `list` but not linked yet (by id, or by id tail for a W3C
-- parent), cycle-safe. Returns the roots of `list` (no parent in it), in
-- list order, and the number of links made.
function assembler.adopt(list)
  local asm = assembler.new()
  local by_id, short, in_list = {}, nil, {}
  for i = 1, #list do
    local s = list[i]
    by_id[s.id] = s
    in_list[s] = true
  end
  local linked = 0
  for i = 1, #list do
    local s = list[i]
    local p = s.parent_span
    if (not p or not in_list[p]) and s.parent and not s.cycle then
      local q
      if s.remote_parent then
        if not short then
          short = {}
          for id, x in pairs(by_id) do short[id:sub(17)] = x end
        end
        q = short[s.parent]
      else
        q = by_id[s.parent]
      end
      -- An orphan without a trace of its own was given its parent's id as
      -- trace (make_orphan); under its parent it inherits the real one.
      if q and s.trace == s.parent then asm.no_trace[s] = true end
      if q and q ~= p and link(asm, q, s) then linked = linked + 1 end
    end
  end
  local roots = {}
  for i = 1, #list do
    local s = list[i]
    local p = s.parent_span
    if not p or not in_list[p] then roots[#roots + 1] = s end
  end
  return roots, linked
end

return assembler
