-- query/spans.lua: records -> spans through the one assembler, the C one
-- (core.assembler): a streaming pass (spans()), whole traces (traces(),
-- tree()), and re-linking spans already handed out (adopt).
--
-- Key idea: records go from the reader into the assembler in C; Lua only
-- sees spans, as tables the binding fills. What is left here is linking
-- those tables: in a streaming pass a span is handed out when it ends, so
-- its children (handed out before it) wait in a table keyed by the
-- parent's ref until it comes, and a parent handed out with children still
-- to come (a ghost) stays reachable by its ref until the C side says its
-- last child went (parent_released).

local core = require("spanline.core")

local spans = {}

local EMPTY = core.EMPTY

-- A fresh reader for a pass (nil: the source is a list of records).
local function pass_reader(q)
  local take = q.source and q.source.take_reader
  return take and take()
end

-- Adds the next record of a list-of-records pass (finishing at its end):
-- false when following and no data is left (the pass ends there).
local function pull(asm, recs, source)
  local rec = recs()
  if rec == nil then
    if source.again then
      source.again = false
      return false
    end
    asm:finish()
  else
    asm:add(rec)
  end
  return true
end

-- Links each span handed out to the ones handed out before it.
local function new_linker()
  local waiting, ghosts = {}, {}
  return function(s, ref, parent, pending, released)
    local kids = waiting[ref]
    if kids then
      waiting[ref] = nil
      s.children = kids
      for i = 1, #kids do kids[i].parent_span = s end
    end
    if pending > 0 then ghosts[ref] = s end
    if parent then
      local g = ghosts[parent]
      if g then
        s.parent_span = g
        local list = rawget(g, "children")
        if not list then
          list = {}
          g.children = list
        end
        list[#list + 1] = s
        if released then ghosts[parent] = nil end
      else
        local w = waiting[parent]
        if not w then
          w = {}
          waiting[parent] = w
        end
        w[#w + 1] = s
      end
    end
  end
end

local function field_set(fields)
  local set = {}
  for _, f in ipairs(fields) do set[f] = true end
  return set
end

-- opts.fields: only these span fields are filled (default: all);
-- opts.reuse: hand out one table again and again (streaming consumers that
-- read a span before pulling the next; never collect them);
-- opts.started_only: leave out spans without a start record (they
-- started before the stream begins; q:ends_only() counts them either way).
function spans.stream(q, make, opts)
  opts = opts or {}
  local source = q.source
  local mask, link, want = nil, true, nil
  if opts.fields then
    mask = core.span_fields(opts.fields)
    want = field_set(opts.fields)
    link = want.children or want.parent_span or false
  end
  local sopts = source.opts or {}
  local asm_opts = { mode = "stream", raw = sopts.raw, pid = sopts.pid, started_only = opts.started_only,
    attrs = not want or want.attrs or false, events = not want or want.events or false }
  local resume  -- follow mode: the next pass goes on with the same state
  return make(function()
    local state = resume
    if not state then
      local reader = pass_reader(q)
      state = { asm = core.assembler(asm_opts), reader = reader, recs = not reader and q.pass(),
        linker = link and new_linker(), reuse = opts.reuse and setmetatable({}, core.span_mt) }
      if reader then state.asm:bind(reader) end
      if source.opts and source.opts.follow then resume = state end
    end
    local asm, reader, recs, linker, reuse = state.asm, state.reader, state.recs, state.linker, state.reuse
    source.assembler = asm
    return function()
      while true do
        local s, ref, parent, pending, released = asm:next(mask, reuse)
        if s == nil and ref ~= nil then error(ref, 0) end   -- a read error
        if s then
          if linker then linker(s, ref, parent, pending, released) end
          source.current_ref = ref  -- the span just yielded (its raw records: asm:raw(ref))
          return s
        end
        if s == nil or reader or not pull(asm, recs, source) then return nil end
      end
    end
  end, "spans", source)
end

-- Every span of a pass kept and linked: the root trees (roots and
-- orphans, in arrival order; children by start).
function spans.keep_all(q)
  local source = q.source
  local reader = pass_reader(q)
  local asm = core.assembler({ mode = "keep", pid = source.opts and source.opts.pid })
  source.assembler = asm
  if reader then
    local state, err = asm:feed(reader)
    if state == nil then error(err, 0) end
  else
    for rec in q.pass() do asm:add(rec) end
  end
  return asm:trees(asm:roots())
end

-- A generator of whole traces { trace = id, roots = { linked span trees } },
-- each handed out when none of its spans is open (memory: the traces still
-- open), in the order they complete.
function spans.trace_pass(q)
  local source = q.source
  local reader = pass_reader(q)
  local recs = not reader and q.pass()
  local asm = core.assembler({ mode = "traces", pid = source.opts and source.opts.pid })
  if reader then asm:bind(reader) end
  source.assembler = asm
  return function()
    while true do
      local t, err = asm:next_trace()
      if t == nil and err ~= nil then error(err, 0) end     -- a read error
      if t then return t end
      if t == nil or reader or not pull(asm, recs, source) then return nil end
    end
  end
end

-- The start/end records a span was assembled from (what linking needs).
local function records_of(s, out)
  local parent = s.parent
  -- An orphan without a trace of its own was given its parent's id as
  -- trace; under its parent it inherits the real one.
  local trace = s.trace
  if trace ~= nil and trace == parent then trace = nil end
  out[#out + 1] = { type = "start", id = s.id, trace = trace, parent = parent, name = s.name or "",
    ts = s.start or 0 }
  if s.finish then out[#out + 1] = { type = "end", id = s.id, ts = s.finish, status = s.status or "ok" } end
end

-- Spans already assembled (handed out by a streaming pass, which forgets a
-- parent once it and its children ended): links each span to its parent in
-- the list (by id, or by id tail for a W3C parent; cycle-safe: the C
-- assembler decides). Sets children (by start), parent_span and depth (in
-- the list's forest) on the spans, and orphan = false on the linked ones;
-- returns the roots (no parent in the list) in list order.
function spans.adopt(list)
  local asm = core.assembler({ mode = "keep", attrs = false, events = false })
  -- Parents first (by start), so that no subtree is re-parented level by
  -- level (a stream hands a chain out leaf first).
  local recs = {}
  for _, s in ipairs(list) do records_of(s, recs) end
  for i, rec in ipairs(recs) do rec.order = i end
  table.sort(recs, function(a, b)
    if (a.type == "start") ~= (b.type == "start") then return a.type == "start" end
    if a.ts ~= b.ts then return a.ts < b.ts end
    return a.order < b.order
  end)
  local by_ref, of_rec = {}, {}
  for _, s in ipairs(list) do of_rec[s.id] = of_rec[s.id] or s end
  for _, rec in ipairs(recs) do
    local ref = asm:add(rec)
    if ref and by_ref[ref] == nil then by_ref[ref] = of_rec[rec.id] end
  end
  local links = core.span_fields({ "depth", "cycle" })
  local roots, is_root = {}, {}
  for _, ref in ipairs(asm:roots()) do is_root[by_ref[ref]] = true end
  for ref, s in pairs(by_ref) do
    local kids = asm:children(ref)
    if #kids > 0 then
      local list_k = {}
      for i, k in ipairs(kids) do
        local c = by_ref[k]
        list_k[i] = c
        c.parent_span = s
      end
      s.children = list_k
    elseif rawget(s, "children") then
      s.children = EMPTY
    end
    local info = asm:span(ref, links)
    s.depth = info.depth
    if info.cycle then s.cycle = true end
    -- a root keeps what the stream said of it (its parent may just be
    -- outside the list); a linked span is no orphan
    if is_root[s] then s.parent_span = nil elseif s.orphan then s.orphan = nil end
  end
  for _, s in ipairs(list) do
    if is_root[s] then
      roots[#roots + 1] = s
      is_root[s] = nil
    end
  end
  asm:close()
  return roots
end

-- filter(q, pred, out, opts): one pass writing the records of the spans
-- for which pred(span) is true to the file out (meta line first), with the
-- loop in C. opts.fields: the fields pred reads; opts.limit;
-- opts.program: expr_simple.program of pred's expression (it judges the
-- spans it can without calling pred). Spans are linked (children,
-- parent_span) only when pred reads those fields.
-- Returns matched, failures (pred raised: no match), first failure, spans.
function spans.filter(q, pred, out, opts)
  opts = opts or {}
  local reader = pass_reader(q)
  if not reader then error("spanline.query: filter needs a source read by a reader", 2) end
  local asm = core.assembler({ mode = "stream", raw = true, pid = q.source.opts and q.source.opts.pid })
  asm:bind(reader)
  q.source.assembler = asm
  local want = field_set(opts.fields or {})
  local mask = opts.fields and core.span_fields(opts.fields) or nil
  local linker = (not opts.fields or want.children or want.parent_span) and new_linker() or nil
  return asm:filter(pred, out, opts.limit, mask, linker, not linker and opts.program or nil)
end

return spans
