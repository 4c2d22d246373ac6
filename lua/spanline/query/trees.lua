-- query/trees.lua: whole traces from a query: each_trace(), traces()/tree()
-- and critical_path().
--
-- Key idea: over records, the C assembler hands out each trace once none
-- of its spans is open (each_trace: memory bounded by the traces still
-- open, not the file); over spans already assembled, they are re-linked
-- among themselves first. Children come sorted by start and every walk is
-- iterative, so a 10^5-deep chain does not overflow the Lua stack.

local chain = require("spanline.query.chain")
local spans = require("spanline.query.spans")

local Q, query, spans_of = chain.Q, chain, chain.spans_of

-- ===== TRACES =====

local function by_start(a, b)
  local x, y = a.start or 0, b.start or 0
  if x ~= y then return x < y end
  return a.id < b.id
end
query.by_start = by_start

-- { trace = id, roots = { spans }, start, finish, dur, spans = n, errors, open }
local function trace_of(key, roots)
  local t = { trace = key, roots = roots, spans = 0, errors = 0, open = 0 }
  local stack, n = {}, 0
  for i = #roots, 1, -1 do
    n = n + 1
    stack[n] = roots[i]
  end
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
  if t.start and t.finish then t.dur = t.finish - t.start end
  return t
end

-- Children sorted by start, the whole tree, without recursion.
local function sort_tree(root)
  local stack, n = { root }, 1
  while n > 0 do
    local s = stack[n]
    stack[n] = nil
    n = n - 1
    local kids = s.children
    if #kids > 1 then table.sort(kids, by_start) end
    for i = 1, #kids do
      n = n + 1
      stack[n] = kids[i]
    end
  end
end

-- Root trees grouped by trace (a root's trace, or its id), by start.
local function group_traces(roots)
  table.sort(roots, by_start)
  local by_trace, order = {}, {}
  for _, r in ipairs(roots) do
    local key = r.trace or r.id
    local group = by_trace[key]
    if not group then
      group = {}
      by_trace[key] = group
      order[#order + 1] = key
    end
    group[#group + 1] = r
  end
  local out = {}
  for i, key in ipairs(order) do out[i] = trace_of(key, by_trace[key]) end
  return out
end

-- Spans already assembled: re-linked among themselves (a span whose parent
-- the streaming pass had forgotten is linked now).
local function adopted_traces(q)
  local list = {}
  for s in spans_of(q).pass() do list[#list + 1] = s end
  local roots = spans.adopt(list)
  for _, r in ipairs(roots) do sort_tree(r) end
  return group_traces(roots)
end

-- each_trace(): an iterator of traces (see trace_of), each as soon as it
-- is complete: over records, in the order they complete (traces still open
-- at the end last, by start), holding only the traces not complete yet;
-- over spans, by start.
function Q:each_trace()
  if self.kind == "records" then
    local gen = spans.trace_pass(self)
    return function()
      local t = gen()
      if t then return trace_of(t.trace, t.roots) end
    end
  end
  local list, i = adopted_traces(self), 0
  return function()
    i = i + 1
    return list[i]
  end
end

-- Every trace, by start, with every span kept (a span arriving after the
-- rest of its trace still joins it).
function Q:traces()
  if self.kind ~= "records" then return adopted_traces(self) end
  return group_traces(spans.keep_all(self))
end

Q.tree = Q.traces

-- ===== CRITICAL PATH =====

-- Jaeger's critical path: from the root, walk back from its end taking the
-- child that finished last (before the current cursor), recurse into it,
-- then continue from that child's start. Returns segments { span, start,
-- finish } in time order covering the root; the parts not in a child
-- belong to the parent (its self time). Iterative (a 10^5-deep chain must
-- not overflow the Lua stack): frames emit segments latest first; the list
-- is reversed at the end. ends[span] is where a span counts as ending.
local function crit_frame(span, lo, hi, ends)
  local kids = {}
  for _, c in ipairs(span.children) do
    if c.start then
      local cs, cf = c.start, ends[c] or hi
      if cs < lo then cs = lo end
      if cf > hi then cf = hi end
      if cf > cs then kids[#kids + 1] = { c, cs, cf } end
    end
  end
  table.sort(kids, function(a, b) return a[3] > b[3] end)
  return { span = span, lo = lo, kids = kids, i = 0, cursor = hi }
end

local function critical(span, lo, hi, ends)
  local rev, out = {}, {}
  local stack, n = { crit_frame(span, lo, hi, ends) }, 1
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
        stack[n] = crit_frame(c, cs, cf, ends)
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
  return out
end

-- Where each span of the tree counts as ending: its end (open: the trace's
-- end), or with clip = false the latest end in its subtree, so children
-- that outlive their parent stay on the path (post-order, iterative).
local function span_ends(root, trace_end, clip)
  local ends, order, stack = {}, {}, { root }
  while #stack > 0 do
    local s = table.remove(stack)
    order[#order + 1] = s
    for _, c in ipairs(s.children) do stack[#stack + 1] = c end
  end
  for i = #order, 1, -1 do
    local s = order[i]
    local e = s.finish or trace_end
    if not clip then
      for _, c in ipairs(s.children) do
        if ends[c] and ends[c] > e then e = ends[c] end
      end
    end
    ends[s] = e
  end
  return ends
end

-- critical_path([trace_id_or_prefix [, { clip = false }]]): segments of the
-- trace's first root (the first trace when no id is given). Children are
-- clipped to their parent's end; with clip = false a child that outlives
-- its parent keeps its own end (the path then covers the whole trace).
function Q:critical_path(trace, opts)
  if type(trace) == "table" and opts == nil then trace, opts = nil, trace end
  local clip = not (opts and opts.clip == false)
  local found
  if trace == nil then
    found = self:traces()[1]
  else
    for t in self:each_trace() do
      if t.trace == trace or t.trace:sub(1, #trace) == trace then
        found = t
        break
      end
    end
  end
  if not found then return nil, "no trace " .. tostring(trace) end
  local root = found.roots[1]
  if not root.start then return {} end
  local ends = span_ends(root, found.finish or root.start, clip)
  return critical(root, root.start, ends[root], ends)
end

return chain
