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
-- Late children in spans(): a span started after its parent ended (another
-- coroutine) is linked into parent.children only while the streaming
-- assembler still knows the parent, i.e. while the parent or one of its
-- already-linked descendants is still open. Once a parent and every child
-- it had ended, it is handed out and forgotten (that is what keeps memory
-- bounded by the open spans), so a child starting after that is yielded as
-- an orphan (orphan = true, depth 0, parent = the parent's id). tree(),
-- traces() and critical_path() over a spans() query re-link such children
-- by parent id among the spans they hold (over a records query they
-- re-assemble with nothing forgotten), so their trees are whole either way.
-- A parent cycle in the input is cut (asm.cycles counts it; the span that
-- would close it stays an orphan with cycle = true).
--
-- Span fields: id, trace, parent, name, start, finish (nil while open), dur,
-- status ("ok"|"error"|"abandoned"|"open"), error, attrs, events ({name, ts,
-- attrs}), lane, children, depth, self, orphan (parent not seen),
-- remote_parent (parent given as a 16-hex W3C span-id), parent_span, line,
-- cycle (true when a parent link was refused because it closed a cycle).
-- Empty attrs, events and children are one shared read-only table.
-- Percentiles are nearest-rank: pN = the ceil(N/100 * n)-th smallest value.

local core = require("spanline.core")
local assembler = require("spanline.assembler")
local expr = require("spanline.expr")

local query = {}

-- The assembler (records -> spans, any order) and the --where language.
query.assembler = assembler.new
query.span_mt = assembler.span_mt
query.compute_self = assembler.compute_self
query.rewrite_units = expr.rewrite_units
query.expr_fields = expr.expr_fields
query.compile_where = expr.compile_where
query.FIELDS = expr.FIELDS

-- ===== QUERIES =====

local Q = {}
Q.__index = Q

local function make(gen, kind, source)
  return setmetatable({ gen = gen, kind = kind, source = source }, Q)
end

-- path | fd | "-" | { records } | reader. opts: follow, max_line, raw.
-- Returns a query of records, or nil, message, code. With follow, a pass
-- ends when no data is left; iterating the same query again resumes.
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
    if rec == false then
      -- Following and no data yet: end this pass; iterating again resumes.
      source.again = true
      return nil
    end
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

-- Parent links refused because they closed a cycle (bad input), so far.
function Q:cycles()
  local src = self.source or {}
  return (src.cycles or 0) + (src.assembler and src.assembler.cycles or 0)
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
      if rec == nil and source.again then
        source.again = false
        return nil  -- follow mode: open spans are not final yet
      elseif rec == nil then
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

-- Rows iterate as `for row in rows do` as well as rows[i]: each row knows
-- its rank, so the iterator keeps no state of its own.
local rows_mt = {
  __call = function(t, _, prev)
    return t[prev and prev.rank + 1 or 1]
  end,
}

local function ranked(rows)
  for i, row in ipairs(rows) do row.rank = i end
  return setmetatable(rows, rows_mt)
end

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
  return ranked({ finish_acc(acc) })
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
  return ranked(rows)
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
    if q.source then q.source.cycles = (q.source.cycles or 0) + asm.cycles end
    return asm:roots()
  end
  -- Spans already assembled: their own links are used, and a span whose
  -- parent the streaming assembler had already forgotten (it started after
  -- its parent and the parent's known children ended) is linked now.
  local list = {}
  for s in spans_of(q).gen do list[#list + 1] = s end
  return (assembler.adopt(list))
end

-- Children sorted by start, the whole tree, without recursion.
local function sort_tree(root)
  local stack, n = { root }, 1
  while n > 0 do
    local s = stack[n]
    stack[n] = nil
    n = n - 1
    local kids = s.children
    if kids and #kids > 0 then
      if #kids > 1 then table.sort(kids, by_start) end
      for i = 1, #kids do
        n = n + 1
        stack[n] = kids[i]
      end
    end
  end
end

-- Per trace: { { trace = id, roots = { spans }, start, finish, spans = n, errors } }
-- by start time; children sorted by start.
function Q:traces()
  local by_trace, order = {}, {}
  local roots = {}
  for _, s in ipairs(whole(self)) do roots[#roots + 1] = s end
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
    local stack, n = { r }, 1
    while n > 0 do
      local s = stack[n]
      stack[n] = nil
      n = n - 1
      t.spans = t.spans + 1
      if s.status == "error" then t.errors = t.errors + 1 end
      if s.status == "open" then t.open = t.open + 1 end
      if s.start and (not t.start or s.start < t.start) then t.start = s.start end
      local f = s.finish or s.start
      if f and (not t.finish or f > t.finish) then t.finish = f end
      local kids = s.children
      for i = 1, #kids do
        n = n + 1
        stack[n] = kids[i]
      end
    end
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
-- Iterative (a 10^5-deep chain must not overflow the Lua stack): frames
-- emit segments latest first; the list is reversed at the end.
local function crit_frame(span, lo, hi)
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
  return { span = span, lo = lo, kids = kids, i = 0, cursor = hi }
end

local function critical(span, lo, hi, out)
  local rev = {}
  local stack, n = { crit_frame(span, lo, hi) }, 1
  while n > 0 do
    local f = stack[n]
    local pushed = false
    while f.cursor > f.lo and f.i < #f.kids do
      f.i = f.i + 1
      local k = f.kids[f.i]
      local c, cs, cf = k[1], k[2], k[3]
      if cf <= f.cursor and cs < f.cursor then
        if cf < f.cursor then rev[#rev + 1] = { span = f.span, start = cf, finish = f.cursor } end
        f.cursor = cs
        n = n + 1
        stack[n] = crit_frame(c, cs, cf)
        pushed = true
        break
      end
    end
    if not pushed then
      if f.cursor > f.lo then rev[#rev + 1] = { span = f.span, start = f.lo, finish = f.cursor } end
      stack[n] = nil
      n = n - 1
    end
  end
  for i = #rev, 1, -1 do out[#out + 1] = rev[i] end
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

return query
