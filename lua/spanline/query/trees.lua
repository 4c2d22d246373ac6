-- query/trees.lua: whole traces from a query: traces()/tree() and
-- critical_path().
--
-- Key idea: these hold every span they see (a tree needs its whole trace);
-- children are sorted by start and every walk is iterative, so a 10^5-deep
-- chain does not overflow the Lua stack.

local assembler = require("spanline.query.assembler")
local chain = require("spanline.query.chain")

local Q, query, spans_of = chain.Q, chain, chain.spans_of

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


return chain
