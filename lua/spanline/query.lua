-- query.lua: the analysis layer: stream -> spans -> where/group/stats/tree.
--
-- Key idea: a query is a pull-based chain of generators. `open` yields
-- records; `spans` runs them through an assembler that yields each span when
-- it ends (children before parents; spans still open at EOF last, with
-- status "open") and then forgets it, so where/map/limit/top/stats/histogram
-- run in memory bounded by the open spans (plus 8 bytes per duration per
-- group for exact percentiles). sort_by, collect, tree, traces and
-- critical_path hold every span they see (whole traces).
--
-- Span fields: id, trace, parent, name, start, finish (nil while open), dur,
-- status ("ok"|"error"|"abandoned"|"open"), error, attrs, events ({name, ts,
-- attrs}), lane, children, depth, self, orphan (parent not seen),
-- remote_parent (parent given as a 16-hex W3C span-id), line.
-- Percentiles are nearest-rank: pN = the ceil(N/100 * n)-th smallest value.

local core = require("spanline.core")

local query = {}

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
query.span_mt = span_mt

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
query.compute_self = compute_self

-- ===== ASSEMBLER =====

local Assembler = {}
Assembler.__index = Assembler

-- opts.release: forget a span once it ended and nothing open needs it
-- (streaming); otherwise every span stays (the viewer, tree, tests).
-- opts.raw: keep each span's records' raw text in span.records.
function query.assembler(opts)
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

-- ===== QUERIES =====

local Q = {}
Q.__index = Q

local function make(gen, kind, source)
  return setmetatable({ gen = gen, kind = kind, source = source }, Q)
end

-- path | fd | "-" | { records } | reader. opts: follow, max_line, raw.
-- Returns a query of records, or nil, message, code.
function query.open(src, opts)
  opts = opts or {}
  if type(src) == "table" and not src.next then
    local i = 0
    return make(function() i = i + 1 return src[i] end, "records", { opts = opts })
  end
  local reader, msg, code
  if type(src) == "userdata" or (type(src) == "table" and src.next) then
    reader = src
  else
    if type(src) ~= "string" and math.type(src) ~= "integer" then
      error("bad argument #1 to 'open' (path, fd or records expected, got " .. type(src) .. ")", 2)
    end
    reader, msg, code = core.reader(src, { follow = opts.follow, max_line = opts.max_line, raw = opts.raw })
    if not reader then return nil, msg, code end
  end
  local source = { reader = reader, opts = opts }
  return make(function()
    local rec, err = reader:next()
    if rec == nil and err then error(err, 0) end
    if rec == false then return nil end
    return rec
  end, "records", source)
end

-- A query over a string of stream bytes (tests, pipes already read).
function query.from_string(text, opts)
  opts = opts or {}
  local reader = core.reader_string(text, { raw = opts.raw, max_line = opts.max_line })
  return query.open(reader, opts)
end

-- A query over spans already assembled (a list).
function query.from_spans(list)
  local i = 0
  return make(function() i = i + 1 return list[i] end, "spans")
end

-- A query over any span iterator (source.reader, when given, answers bad_lines).
function query.from_iter(gen, source)
  return make(gen, "spans", source or {})
end

-- Bad lines seen by the reader under this query: count, { line numbers }.
function Q:bad_lines()
  local r = self.source and self.source.reader
  if r and r.bad_lines then return r:bad_lines() end
  return 0, {}
end

function Q:meta()
  return self.source and self.source.meta
end

-- Records -> spans (streaming: ended spans in end order, then open ones).
function Q:spans()
  if self.kind == "spans" then return self end
  local next_rec = self.gen
  local source = self.source or {}
  local asm = query.assembler({ release = true, raw = source.opts and source.opts.raw })
  source.assembler = asm
  local tail, tail_i = nil, 0
  local q = make(function()
    while true do
      local s = asm:take()
      if s then return s end
      if tail then
        tail_i = tail_i + 1
        return tail[tail_i]
      end
      local rec = next_rec()
      if rec == nil then
        tail = asm:open_spans()
      else
        asm:add(rec)
        if rec.type == "meta" and not source.meta then source.meta = rec end
      end
    end
  end, "spans", source)
  return q
end

local function spans_of(q)
  if q.kind == "spans" or q.kind == "any" then return q end
  return q:spans()
end

-- Iterates: `for x in q:iter() do`.
function Q:iter()
  return self.gen
end

-- Field access with "attr.KEY" support.
local function getter(key)
  if type(key) == "function" then return key end
  if type(key) ~= "string" then error("bad key " .. tostring(key), 3) end
  local attr = key:match("^attrs?%.(.+)$")
  if attr then
    return function(s)
      local a = s.attrs
      return a and a[attr]
    end
  end
  return function(s) return s[key] end
end
query.getter = getter

-- where(fn) or where{ field = value | fn(value) -> bool, ... }.
function Q:where(pred)
  local q = spans_of(self)
  if type(pred) == "table" then
    local checks = {}
    for k, v in pairs(pred) do checks[#checks + 1] = { getter(k), v } end
    pred = function(s)
      for _, c in ipairs(checks) do
        local val = c[1](s)
        if type(c[2]) == "function" then
          if not c[2](val) then return false end
        elseif val ~= c[2] then
          return false
        end
      end
      return true
    end
  elseif type(pred) ~= "function" then
    error("bad argument #1 to 'where' (function or table expected, got " .. type(pred) .. ")", 2)
  end
  local gen = q.gen
  return make(function()
    while true do
      local s = gen()
      if s == nil then return nil end
      if pred(s) then return s end
    end
  end, q.kind, q.source)
end

function Q:map(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'map' (function expected, got " .. type(fn) .. ")", 2)
  end
  local q = spans_of(self)
  local gen = q.gen
  return make(function()
    local s = gen()
    if s == nil then return nil end
    return fn(s)
  end, "any", q.source)
end

function Q:limit(n)
  if math.type(n) ~= "integer" then
    error("bad argument #1 to 'limit' (integer expected, got " .. type(n) .. ")", 2)
  end
  local q = spans_of(self)
  local gen, i = q.gen, 0
  return make(function()
    if i >= n then return nil end
    i = i + 1
    return gen()
  end, q.kind, q.source)
end

function Q:collect()
  local q = spans_of(self)
  local out = {}
  for s in q.gen do out[#out + 1] = s end
  return out
end

function Q:count()
  local q, n = spans_of(self), 0
  for _ in q.gen do n = n + 1 end
  return n
end

-- sort_by(key_or_fn [, "desc"]) holds every span.
function Q:sort_by(key, order)
  local get = getter(key)
  local list = self:collect()
  local desc = order == "desc" or order == true
  table.sort(list, function(a, b)
    local x, y = get(a), get(b)
    if x == nil then return false end
    if y == nil then return true end
    if desc then return x > y end
    return x < y
  end)
  return query.from_spans(list)
end

-- The n spans with the largest key (default "dur"), largest first; keeps n.
function Q:top(n, key)
  local get = getter(key or "dur")
  local best = {}
  for s in spans_of(self).gen do
    local v = get(s)
    if v ~= nil then
      local m = #best
      if m < n or v > best[m][1] then
        local i = m < n and m + 1 or m
        while i > 1 and best[i - 1][1] < v do
          best[i] = best[i - 1]
          i = i - 1
        end
        best[i] = { v, s }
      end
    end
  end
  local out = {}
  for i, e in ipairs(best) do out[i] = e[2] end
  return out
end

-- ===== STATS =====

local rows_mt = {
  -- `for row in rows do` as well as rows[i].
  __call = function(t, _, prev)
    local i = (t._i or 0) + 1
    if prev == nil then i = 1 end
    t._i = i
    return t[i]
  end,
}

local function new_acc(key)
  return { key = key, count = 0, errors = 0, open = 0, d = core.samples(), self_total = 0, self_n = 0 }
end

local function feed(acc, s)
  acc.count = acc.count + 1
  local st = s.status
  if st == "error" then acc.errors = acc.errors + 1 end
  if st == "open" or s.dur == nil then
    acc.open = acc.open + (st == "open" and 1 or 0)
  else
    acc.d:add(s.dur)
  end
  if s.self then
    acc.self_total = acc.self_total + s.self
    acc.self_n = acc.self_n + 1
  end
end

local function finish_acc(acc)
  local row = acc.d:summary()
  row.key, row.count, row.errors, row.open = acc.key, acc.count, acc.errors, acc.open
  row.self_total = acc.self_total
  row.self_mean = acc.self_n > 0 and acc.self_total / acc.self_n or nil
  return row
end

-- One row over everything: count, errors, open, total, min, mean, stdev
-- (population), p50, p90, p95, p99, max, self_total, self_mean. Durations
-- of open spans are not counted (they have none).
function Q:stats()
  local acc = new_acc("all")
  for s in spans_of(self).gen do feed(acc, s) end
  return setmetatable({ finish_acc(acc) }, rows_mt)
end

local Groups = {}
Groups.__index = Groups

-- group_by("name" | "trace" | "status" | "attr.KEY" | fn): grouping is lazy;
-- stats() streams, spans() holds every span per group.
function Q:group_by(key)
  return setmetatable({ q = spans_of(self), get = getter(key), keyname = key }, Groups)
end

local function group_key(v)
  if v == nil then return "(none)" end
  return tostring(v)
end

-- Rows sorted by total duration, largest first (then key).
function Groups:stats()
  local accs, order = {}, {}
  local get = self.get
  for s in self.q.gen do
    local k = group_key(get(s))
    local acc = accs[k]
    if not acc then
      acc = new_acc(k)
      accs[k] = acc
      order[#order + 1] = k
    end
    feed(acc, s)
  end
  local rows = {}
  for _, k in ipairs(order) do rows[#rows + 1] = finish_acc(accs[k]) end
  table.sort(rows, function(a, b)
    local x, y = a.total or 0, b.total or 0
    if x ~= y then return x > y end
    return a.key < b.key
  end)
  return setmetatable(rows, rows_mt)
end

-- { key = { spans } } (holds every span).
function Groups:spans()
  local out = {}
  for s in self.q.gen do
    local k = group_key(self.get(s))
    local list = out[k]
    if not list then
      list = {}
      out[k] = list
    end
    list[#list + 1] = s
  end
  return out
end

-- ===== HISTOGRAM =====

-- histogram(field, { buckets = n | { edges... } }): rows { lo, hi, count },
-- lo inclusive, hi exclusive (the last bucket includes its hi). With n
-- buckets the range min..max is split evenly (needs the values: holds them).
function Q:histogram(field, opts)
  local get = getter(field or "dur")
  opts = opts or {}
  local buckets = opts.buckets or 10
  local rows = {}
  if type(buckets) == "table" then
    local edges = buckets
    for i = 1, #edges - 1 do rows[i] = { lo = edges[i], hi = edges[i + 1], count = 0 } end
    for s in spans_of(self).gen do
      local v = get(s)
      if type(v) == "number" then
        for i = #rows, 1, -1 do
          local r = rows[i]
          if v >= r.lo and (v < r.hi or (i == #rows and v == r.hi)) then
            r.count = r.count + 1
            break
          end
        end
      end
    end
    return rows
  end
  local values, lo, hi = {}, nil, nil
  for s in spans_of(self).gen do
    local v = get(s)
    if type(v) == "number" then
      values[#values + 1] = v
      if not lo or v < lo then lo = v end
      if not hi or v > hi then hi = v end
    end
  end
  if not lo then return rows end
  local width = (hi - lo) / buckets
  for i = 1, buckets do
    local a = lo + (i - 1) * width
    local b = i == buckets and hi or lo + i * width
    if math.type(lo) == "integer" then
      a, b = math.floor(a), (i == buckets and hi or math.floor(b))
    end
    rows[i] = { lo = a, hi = b, count = 0 }
  end
  for _, v in ipairs(values) do
    local i = width > 0 and math.floor((v - lo) / width) + 1 or 1
    if i > buckets then i = buckets end
    rows[i].count = rows[i].count + 1
  end
  return rows
end

-- ===== TREES =====

local function by_start(a, b)
  local x, y = a.start or 0, b.start or 0
  if x ~= y then return x < y end
  return a.id < b.id
end
query.by_start = by_start

-- Re-assembles with every span kept (trees need whole traces).
local function whole(q)
  if q.kind == "records" then
    local asm = query.assembler({ release = false })
    for rec in q.gen do asm:add(rec) end
    return asm
  end
  -- Spans already assembled: their own links are used.
  local asm = { root_list = {}, by_id = {} }
  for s in spans_of(q).gen do
    asm.by_id[s.id] = s
  end
  for _, s in pairs(asm.by_id) do
    local p = s.parent_span
    if not p or not asm.by_id[p.id] then asm.root_list[#asm.root_list + 1] = s end
  end
  return asm
end

local function sort_tree(s)
  table.sort(s.children, by_start)
  for _, c in ipairs(s.children) do sort_tree(c) end
end

-- Per trace: { { trace = id, roots = { spans }, start, finish, spans = n, errors } }
-- by start time; children sorted by start.
function Q:traces()
  local asm = whole(self)
  local by_trace, order = {}, {}
  local roots = {}
  for _, s in ipairs(asm.root_list) do roots[#roots + 1] = s end
  table.sort(roots, by_start)
  for _, r in ipairs(roots) do
    sort_tree(r)
    local key = r.trace or r.id
    local t = by_trace[key]
    if not t then
      t = { trace = key, roots = {}, spans = 0, errors = 0, open = 0 }
      by_trace[key] = t
      order[#order + 1] = t
    end
    t.roots[#t.roots + 1] = r
    local function walk(s)
      t.spans = t.spans + 1
      if s.status == "error" then t.errors = t.errors + 1 end
      if s.status == "open" then t.open = t.open + 1 end
      if s.start and (not t.start or s.start < t.start) then t.start = s.start end
      local f = s.finish or s.start
      if f and (not t.finish or f > t.finish) then t.finish = f end
      for _, c in ipairs(s.children) do walk(c) end
    end
    walk(r)
  end
  for _, t in ipairs(order) do
    if t.start and t.finish then t.dur = t.finish - t.start end
  end
  return order
end

query.Q = Q
Q.tree = Q.traces

-- Jaeger's critical path: from the root, walk back from its end taking the
-- child that finished last (before the current cursor), recurse into it,
-- then continue from that child's start. Children are clipped to their
-- parent. Returns segments { span, start, finish } in time order covering
-- the root; the parts not in a child belong to the parent (its self time).
local function critical(span, lo, hi, out)
  local kids = {}
  for _, c in ipairs(span.children) do
    if c.start then
      local cs, cf = c.start, c.finish or hi
      if cs < lo then cs = lo end
      if cf > hi then cf = hi end
      if cf > cs then kids[#kids + 1] = { c, cs, cf } end
    end
  end
  table.sort(kids, function(a, b) return a[3] > b[3] end)
  local cursor = hi
  local segs = {}
  for _, k in ipairs(kids) do
    local c, cs, cf = k[1], k[2], k[3]
    if cf <= cursor and cs < cursor then
      if cf < cursor then segs[#segs + 1] = { span = span, start = cf, finish = cursor } end
      local sub = {}
      critical(c, cs, cf, sub)
      for i = #sub, 1, -1 do segs[#segs + 1] = sub[i] end
      cursor = cs
    end
    if cursor <= lo then break end
  end
  if cursor > lo then segs[#segs + 1] = { span = span, start = lo, finish = cursor } end
  for i = #segs, 1, -1 do out[#out + 1] = segs[i] end
end

-- critical_path(trace_id): segments of the trace's (first) root.
function Q:critical_path(trace)
  for _, t in ipairs(self:traces()) do
    if trace == nil or t.trace == trace or t.trace:sub(1, #trace) == trace then
      local root = t.roots[1]
      if not root.start then return {} end
      local out = {}
      critical(root, root.start, root.finish or t.finish or root.start, out)
      return out
    end
  end
  return nil, "no trace " .. tostring(trace)
end

-- ===== EXPRESSIONS (--where) =====

local UNIT_NS = { ns = 1, us = 1000, ms = 1000000, s = 1000000000, m = 60000000000, h = 3600000000000 }

-- Rewrites duration literals (5ms, 1.5s, 250us) to integer nanoseconds,
-- leaving string literals alone.
function query.rewrite_units(expr)
  local out, i, n = {}, 1, #expr
  while i <= n do
    local c = expr:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n and expr:sub(j, j) ~= c do
        if expr:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      out[#out + 1] = expr:sub(i, j)
      i = j + 1
    elseif c:match("[%a_]") then
      local word = expr:match("^[%w_]+", i)
      out[#out + 1] = word
      i = i + #word
    elseif c:match("%d") or (c == "." and expr:sub(i + 1, i + 1):match("%d")) then
      local num, unit = expr:match("^([%d%.]+)(%a*)", i)
      local scale = UNIT_NS[unit]
      if scale and tonumber(num) and not expr:sub(i):match("^0[xX]") then
        out[#out + 1] = string.format("%d", math.floor(tonumber(num) * scale + 0.5))
        i = i + #num + #unit
      else
        local tok = expr:match("^[%w%.]+", i)
        out[#out + 1] = tok
        i = i + #tok
      end
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

local FIELDS = { "id", "trace", "parent", "name", "start", "finish", "dur", "status", "error",
  "attrs", "events", "lane", "children", "depth", "self", "orphan", "remote_parent", "line" }
local FIELD_SET = {}
for _, f in ipairs(FIELDS) do FIELD_SET[f] = true end
query.FIELDS = FIELDS

local function sandbox()
  return {
    string = string, math = math, table = table, utf8 = utf8,
    tostring = tostring, tonumber = tonumber, type = type, pairs = pairs, ipairs = ipairs,
    select = select, next = next,
  }
end

-- The span fields an expression names (identifiers that are field names).
function query.expr_fields(expr)
  local code, used, seen = query.rewrite_units(expr), {}, {}
  for word in code:gmatch("[%a_][%w_]*") do
    if FIELD_SET[word] and not seen[word] then
      seen[word] = true
      used[#used + 1] = word
    end
  end
  return used
end

-- Compiles a Lua expression over span fields (`dur > 5ms and name:find("db")`)
-- into a predicate, in an environment without os, io, load or require.
-- Returns fn, or nil, message, column (1-based) of a syntax error.
function query.compile_where(expr)
  if type(expr) ~= "string" then
    error("bad argument #1 to 'compile_where' (string expected, got " .. type(expr) .. ")", 2)
  end
  local code = query.rewrite_units(expr)
  local ok_chunk, err = load("return (" .. code .. "\n)", "=expr", "t", {})
  if not ok_chunk then
    local msg = tostring(err):gsub("^expr:%d+: ", "")
    local near = msg:match("near '(.-)'$")
    local col
    if near then col = expr:find(near, 1, true) end
    if not col then col = #expr + 1 end
    return nil, msg, col
  end
  local used = {}
  for word in code:gmatch("[%a_][%w_]*") do
    if FIELD_SET[word] and not used[word] then
      used[word] = true
      used[#used + 1] = word
    end
  end
  local src
  if #used > 0 then
    local gets = {}
    for i, f in ipairs(used) do gets[i] = "s." .. f end
    src = "local s = ...\nlocal " .. table.concat(used, ", ") .. " = " .. table.concat(gets, ", ") ..
      "\nreturn (" .. code .. "\n)"
  else
    src = "return (" .. code .. "\n)"
  end
  local fn, err2 = load(src, "=expr", "t", sandbox())
  if not fn then return nil, tostring(err2):gsub("^expr:%d+: ", ""), 1 end
  return fn
end

return query
