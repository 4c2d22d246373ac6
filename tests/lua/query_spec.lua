-- spanline.query on hand-written fixtures whose answers were worked out by
-- hand (tests/fixtures/query_basic.jsonl, query_pct.jsonl): assembly, self
-- time with overlapping and outliving children, open/orphan/remote spans,
-- arrival order, where/map/limit/top/sort_by, stats (nearest-rank
-- percentiles), histogram, traces/tree, critical path, --where expressions.
local query = require("spanline.query")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"
local MS = 1000000
local T = 1764000000000000000

local function id(n) return string.format("%032x", n) end

local function by_id(list)
  local t = {}
  for _, s in ipairs(list) do t[s.id] = s end
  return t
end

local function read_records(path)
  local core = require("spanline.core")
  local r = assert(core.reader(path))
  local out = {}
  while true do
    local rec = r:next()
    if not rec then break end
    out[#out + 1] = rec
  end
  return out
end

-- Every span of a query's traces, by id (walking the trees).
local function spans_by_id(q)
  local out, n = {}, 0
  for _, t in ipairs(q:traces()) do
    local stack = {}
    for _, r in ipairs(t.roots) do stack[#stack + 1] = r end
    while #stack > 0 do
      local s = table.remove(stack)
      out[s.id] = s
      n = n + 1
      for _, c in ipairs(s.children) do stack[#stack + 1] = c end
    end
  end
  return out, n
end

local function reversed(list)
  local out = {}
  for i = #list, 1, -1 do out[#out + 1] = list[i] end
  return out
end

describe("spans assembled into traces", function()
  local S, n
  setup(function()
    S, n = spans_by_id(query.open(FIX .. "/query_basic.jsonl"))
  end)

  it("builds every span with integer times", function()
    assert.equal(12, n)
    local root = S[id(1)]
    assert.equal("request", root.name)
    assert.equal(T, root.start)
    assert.equal(T + 100 * MS, root.finish)
    assert.equal(100 * MS, root.dur)
    assert.equal("integer", math.type(root.dur))
    assert.equal("ok", root.status)
  end)

  it("links children and depths", function()
    local root = S[id(1)]
    assert.equal(3, #root.children)
    assert.equal(0, root.depth)
    assert.equal(1, S[id(3)].depth)
    assert.equal(2, S[id(4)].depth)
    assert.equal(S[id(3)], S[id(4)].parent_span)
    assert.equal(id(1), S[id(4)].trace)
  end)

  it("computes self time with overlapping and outliving children", function()
    -- 100 - |[10,40] u [30,60] u [90,100 (render clipped)]| = 100 - 60
    assert.equal(40 * MS, S[id(1)].self)
    assert.equal(20 * MS, S[id(3)].self)   -- 30 - net.read 10
    assert.equal(30 * MS, S[id(2)].self)
    assert.equal(30 * MS, S[id(5)].self)   -- outlives its parent: its own self is whole
    assert.equal(6 * MS, S[id(6)].self)    -- 10 - 4
  end)

  it("keeps error, attrs, events and attr records", function()
    assert.equal("error", S[id(3)].status)
    assert.equal("timeout", S[id(3)].error)
    assert.same({ sql = "select 1", rows = 3 }, S[id(2)].attrs)
    local r6 = S[id(6)]
    assert.equal(1, #r6.events)
    assert.equal("retry", r6.events[1].name)
    assert.equal(T + 202 * MS, r6.events[1].ts)
    assert.equal(2, r6.events[1].attrs.attempt)
    assert.equal(200, r6.attrs["http.status"])
  end)

  it("has open, orphan and remote-parent spans", function()
    local w = S[id(8)]
    assert.equal("open", w.status)
    assert.is_nil(w.finish)
    assert.is_nil(w.dur)
    assert.is_nil(w.self)
    assert.is_true(S[id(9)].orphan)
    assert.equal(id(255), S[id(9)].parent)
    local h = S[id(10)]
    assert.is_true(h.remote_parent)
    assert.equal("00f067aa0ba902b7", h.parent)
    assert.equal("4bf92f3577b34da6a3ce929d0e0e4736", h.trace)
  end)

  it("re-parents a child that arrived before its parent", function()
    local child, parent = S[id(12)], S[id(11)]
    assert.is_false(child.orphan)
    assert.equal(parent, child.parent_span)
    assert.equal(1, child.depth)
    assert.equal(1, #parent.children)
    assert.equal(8 * MS, parent.self)      -- 11 - 3
    assert.equal("abandoned", parent.status)
    local roots = {}
    for _, t in ipairs(query.open(FIX .. "/query_basic.jsonl"):traces()) do
      for _, r in ipairs(t.roots) do roots[#roots + 1] = r.id end
    end
    assert.same({ id(1), id(6), id(8), id(9), id(10), id(11) }, roots)
  end)

  it("gives the same trees for any arrival order", function()
    local R = spans_by_id(query.open(reversed(read_records(FIX .. "/query_basic.jsonl"))))
    for k, s in pairs(S) do
      local r = R[k]
      assert.equal(s.parent_span and s.parent_span.id, r.parent_span and r.parent_span.id)
      assert.equal(s.depth, r.depth)
      assert.equal(s.dur, r.dur)
      assert.equal(s.self, r.self)
      assert.equal(s.status, r.status)
    end
  end)
end)

describe("query streams", function()
  it("yields spans in end order, open ones last", function()
    local names = {}
    for s in query.open(FIX .. "/query_basic.jsonl"):spans():iter() do names[#names + 1] = s.id end
    assert.same({ id(2), id(4), id(3), id(1), id(5), id(7), id(6), id(9), id(10), id(12), id(11), id(8) }, names)
  end)

  it("where with a function and with a table", function()
    local q = query.open(FIX .. "/query_basic.jsonl")
    local ids = {}
    for _, s in ipairs(q:where(function(s) return s.dur and s.dur >= 30 * MS end):collect()) do
      ids[#ids + 1] = s.id
    end
    assert.same({ id(2), id(3), id(1), id(5) }, ids)
    local errs = query.open(FIX .. "/query_basic.jsonl"):where({ name = "db.query", status = "error" }):collect()
    assert.equal(1, #errs)
    assert.equal(id(3), errs[1].id)
  end)

  it("map, limit, count, sort_by, top", function()
    local q = query.open(FIX .. "/query_pct.jsonl")
    assert.same({ 7 * MS, 3 * MS }, q:where({ name = "op" }):map(function(s) return s.dur end):limit(2):collect())
    assert.equal(11, query.open(FIX .. "/query_pct.jsonl"):count())
    local sorted = query.open(FIX .. "/query_pct.jsonl"):where({ name = "op" }):sort_by("dur"):collect()
    for i = 1, 10 do assert.equal(i * MS, sorted[i].dur) end
    local top = query.open(FIX .. "/query_pct.jsonl"):top(3, "dur"):collect()
    assert.same({ 50 * MS, 10 * MS, 9 * MS }, { top[1].dur, top[2].dur, top[3].dur })
  end)

  it("stats: nearest-rank percentiles, mean, population stdev", function()
    local rows = query.open(FIX .. "/query_pct.jsonl"):where({ name = "op" }):stats()
    local r = rows[1]
    assert.equal(10, r.count)
    assert.equal(1, r.errors)
    assert.equal(0, r.open)
    assert.equal(55 * MS, r.total)
    assert.equal(1 * MS, r.min)
    assert.equal(10 * MS, r.max)
    assert.equal(5.5 * MS, r.mean)
    assert.near(math.sqrt(8.25) * MS, r.stdev, 1)
    assert.equal(5 * MS, r.p50)   -- rank ceil(0.50 * 10) = 5
    assert.equal(9 * MS, r.p90)   -- rank 9
    assert.equal(10 * MS, r.p95)  -- rank ceil(9.5) = 10
    assert.equal(10 * MS, r.p99)
    assert.equal(55 * MS, r.self_total)
  end)

  it("group_by name: per-group stats, largest total first, iterable", function()
    local rows = query.open(FIX .. "/query_basic.jsonl"):group_by("name"):stats()
    local byk = {}
    for row in rows do byk[row.key] = row end
    assert.equal("request", rows[1].key)       -- 110ms total
    local db = byk["db.query"]
    assert.equal(4, db.count)
    assert.equal(1, db.errors)
    assert.equal(65 * MS, db.total)
    assert.equal(1 * MS, db.min)
    assert.equal(4 * MS, db.p50)   -- sorted 1,4,30,30: rank 2
    assert.equal(30 * MS, db.p90)  -- rank ceil(3.6) = 4
    assert.equal(30 * MS, db.max)
    assert.equal(16.25 * MS, db.mean)
    assert.equal(55 * MS, db.self_total)  -- 30 + 20 + 4 + 1
    local req = byk.request
    assert.equal(10 * MS, req.p50)
    assert.equal(100 * MS, req.p90)
    assert.equal(46 * MS, req.self_total)
    local w = byk.worker
    assert.equal(1, w.count)
    assert.equal(1, w.open)
    assert.is_nil(w.total)
  end)

  it("group_by status, attr and function", function()
    local rows = query.open(FIX .. "/query_basic.jsonl"):group_by("status"):stats()
    local byk = {}
    for _, row in ipairs(rows) do byk[row.key] = row.count end
    assert.same({ ok = 9, error = 1, abandoned = 1, open = 1 }, byk)
    rows = query.open(FIX .. "/query_basic.jsonl"):where({ name = "db.query" }):group_by("attr.sql"):stats()
    byk = {}
    for _, row in ipairs(rows) do byk[row.key] = row.count end
    assert.same({ ["select 1"] = 1, ["(none)"] = 3 }, byk)
    -- Streaming: the early child (12) is still a provisional orphan (depth 0).
    rows = query.open(FIX .. "/query_basic.jsonl"):group_by(function(s) return s.depth end):stats()
    byk = {}
    for _, row in ipairs(rows) do byk[row.key] = row.count end
    assert.same({ ["0"] = 7, ["1"] = 4, ["2"] = 1 }, byk)
  end)

  it("histogram with edges and with equal-width buckets", function()
    local h = query.open(FIX .. "/query_pct.jsonl"):where({ name = "op" })
      :histogram("dur", { buckets = { 0, 5 * MS, 10 * MS + 1 } })
    assert.same({ 4, 6 }, { h[1].count, h[2].count })
    h = query.open(FIX .. "/query_pct.jsonl"):where({ name = "op" }):histogram("dur", { buckets = 3 })
    assert.equal(1 * MS, h[1].lo)
    assert.equal(10 * MS, h[3].hi)
    assert.same({ 3, 3, 4 }, { h[1].count, h[2].count, h[3].count })
  end)

  it("traces: one per trace id, by start", function()
    local ts = query.open(FIX .. "/query_basic.jsonl"):traces()
    local keys = {}
    for i, t in ipairs(ts) do keys[i] = t.trace end
    assert.same({ id(1), id(6), id(8), id(254), "4bf92f3577b34da6a3ce929d0e0e4736", id(11) }, keys)
    assert.equal(5, ts[1].spans)
    assert.equal(1, ts[1].errors)
    assert.equal(120 * MS, ts[1].dur)
    assert.equal(2, ts[6].spans)  -- the late parent and its early child
    assert.equal(1, ts[3].open)
  end)

  it("critical path (Jaeger): last-finishing child first, clipped", function()
    local segs = query.open(FIX .. "/query_basic.jsonl"):critical_path(id(1))
    local got = {}
    for i, s in ipairs(segs) do
      got[i] = string.format("%s %d-%d", s.span.id:sub(-1), (s.start - T) // MS, (s.finish - T) // MS)
    end
    assert.same({ "1 0-30", "3 30-35", "4 35-45", "3 45-60", "1 60-90", "5 90-100" }, got)
  end)

  it("streaming where releases ended spans (constant memory)", function()
    -- 2 * 10^4 sequential two-level traces: the assembler must not keep them.
    local n, lines = 20000, {}
    for k = 0, n - 1 do
      local root, child = id(2 * k + 1), id(2 * k + 2)
      lines[#lines + 1] = string.format('{"type":"start","id":"%s","name":"r","ts":%d}', root, k * 10)
      lines[#lines + 1] = string.format('{"type":"start","id":"%s","parent":"%s","name":"c","ts":%d}',
        child, root, k * 10 + 1)
      lines[#lines + 1] = string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}', child, k * 10 + 2)
      lines[#lines + 1] = string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}', root, k * 10 + 3)
    end
    local spans = query.from_string(table.concat(lines, "\n") .. "\n"):spans()
    local matched, most = 0, 0
    for _ in spans:where({ name = "c" }):iter() do
      matched = matched + 1
      local kept = spans.source.assembler:stats().spans
      if kept > most then most = kept end
    end
    assert.equal(n, matched)
    assert.is_true(most <= 2, "kept " .. most .. " spans at once")
    assert.equal(0, spans.source.assembler:stats().spans)
  end)
end)

-- Bad input and deep trees: parent cycles are cut (the span closing the
-- cycle stays an orphan, marked and counted), and no walk recurses.
describe("parent cycles and deep trees", function()
  local tree_text = require("spanline.tree_text")
  local function st(n, parent, ts) return { type = "start", id = id(n), parent = parent and id(parent), name = "s" .. n, ts = ts } end
  local function en(n, ts) return { type = "end", id = id(n), ts = ts, status = "ok" } end

  -- Assembles recs, checks the cut; returns spans by id and the roots.
  local function check_cut(recs, want_cycles)
    local q = query.open(recs)
    local traces = q:traces()
    assert.equal(want_cycles, q:cycles())
    local S, total = {}, 0
    local roots = {}
    for _, t in ipairs(traces) do
      total = total + t.spans
      for _, r in ipairs(t.roots) do roots[#roots + 1] = r end
    end
    local marked, stack = 0, {}
    for _, r in ipairs(roots) do stack[#stack + 1] = r end
    while #stack > 0 do
      local s = table.remove(stack)
      S[s.id] = s
      if s.cycle then
        marked = marked + 1
        assert.is_true(s.orphan)
        assert.is_nil(s.parent_span)
      end
      for _, c in ipairs(s.children) do stack[#stack + 1] = c end
    end
    assert.equal(want_cycles, marked)
    -- text trees and the critical path all finish
    assert.equal(total, #tree_text.rows(roots))
    assert.truthy(query.open(recs):critical_path())
    return S, roots
  end

  it("cuts a two-span cycle (a's parent is b, b's parent is a)", function()
    local S, roots = check_cut({ st(1, 2, 10), st(2, 1, 20), en(1, 30), en(2, 40) }, 1)
    -- 2 links under 1 (1 was known when 2 started); re-parenting 1 under 2 closes the cycle
    local a, b = S[id(1)], S[id(2)]
    assert.is_true(a.cycle)
    assert.equal(a, b.parent_span)
    assert.equal(1, b.depth)
    assert.same({ a }, roots)
    assert.truthy(tree_text.line(a):find("parent cycle cut", 1, true))
  end)

  it("cuts a span that is its own parent", function()
    local S, roots = check_cut({ st(1, 1, 10), en(1, 20) }, 1)
    local s = S[id(1)]
    assert.is_true(s.cycle)
    assert.equal(0, #s.children)
    assert.equal(10, s.self)
    assert.same({ s }, roots)
  end)

  it("cuts a three-span cycle and one closed by a span seen before its start", function()
    check_cut({ st(1, 3, 10), st(2, 1, 11), st(3, 2, 12), en(1, 20), en(2, 21), en(3, 22) }, 1)
    -- 2 ends before it starts; 3 links under the (known) 2; then 2 starts with parent 3
    check_cut({ en(2, 50), st(3, 2, 10), st(2, 3, 5), en(3, 20) }, 1)
  end)

  it("counts cycles on a query and `spanline tree` survives them", function()
    local q = query.open({ st(1, 2, 10), st(2, 1, 20), en(1, 30), en(2, 40) })
    q:traces()
    assert.equal(1, q:cycles())
  end)

  it("handles a 10^5-deep chain (traces, text rows, critical path)", function()
    local n = 100000
    local recs = {}
    for i = 1, n do recs[#recs + 1] = st(i, i > 1 and i - 1 or nil, i) end
    for i = n, 1, -1 do recs[#recs + 1] = en(i, 3 * n - i) end
    local traces = query.open(recs):traces()
    assert.equal(1, #traces)
    assert.equal(n, traces[1].spans)
    local root = traces[1].roots[1]
    -- each span [i, 3n - i] minus its child [i + 1, 3n - i - 1] = 2
    assert.equal(2, root.self)
    local rows = tree_text.rows(traces[1].roots)
    assert.equal(n, #rows)
    assert.equal(n - 1, rows[n].depth)
    assert.equal(n - 1, rows[n].span.depth)
    -- guides are capped: the deepest prefix is not 3 * 10^5 characters
    assert.is_true(#rows[n].prefix < 400, "prefix length " .. #rows[n].prefix)
    local path = query.open(recs):critical_path()
    assert.equal(2 * n - 1, #path)  -- each span: a slice before and after its child, the leaf whole
    assert.equal(id(1), path[1].span.id)
    assert.equal(id(n), path[n].span.id)
    -- a spans() query's tree re-links nothing here but must not recurse either
    assert.equal(n, query.open(recs):spans():tree()[1].spans)
  end)

  it("re-parents a 2000-deep chain that arrives leaf first", function()
    local n = 2000
    local recs = {}
    for i = n, 1, -1 do recs[#recs + 1] = st(i, i > 1 and i - 1 or nil, i) end
    local traces = query.open(recs):traces()
    assert.equal(1, #traces)
    assert.equal(1, #traces[1].roots)
    assert.equal(id(1), traces[1].roots[1].id)
    assert.equal(n, traces[1].spans)
    local deepest = tree_text.rows(traces[1].roots)[n].span
    assert.equal(id(n), deepest.id)
    assert.equal(n - 1, deepest.depth)
  end)
end)

-- A child that starts after its parent ended (another coroutine).
describe("late children in streaming spans()", function()
  local function st(n, parent, ts) return { type = "start", id = id(n), trace = id(1), parent = parent and id(parent), name = "s" .. n, ts = ts } end
  local function en(n, ts) return { type = "end", id = id(n), ts = ts, status = "ok" } end

  it("links it while the parent is still known (a sibling still open)", function()
    -- P [0,10] with A [1,30] still open when P ends; B [20,25] starts after P ended
    local recs = { st(1, nil, 0), st(2, 1, 1), en(1, 10), st(3, 1, 20), en(3, 25), en(2, 30) }
    local S = by_id(query.open(recs):spans():collect())
    local p, b = S[id(1)], S[id(3)]
    assert.is_false(b.orphan)
    assert.equal(p, b.parent_span)
    assert.equal(1, b.depth)
    assert.equal(2, #p.children)
    assert.equal(1, p.self)  -- [0,10] minus A clipped to [1,10]
  end)

  it("yields it as an orphan once the parent is forgotten; tree() re-links it", function()
    -- P [0,10] with A [1,5]; both ended before B [20,25] starts
    local recs = { st(1, nil, 0), st(2, 1, 1), en(2, 5), en(1, 10), st(3, 1, 20), en(3, 25) }
    local list = query.open(recs):spans():collect()
    local S = by_id(list)
    assert.is_true(S[id(3)].orphan)
    assert.equal(id(1), S[id(3)].parent)
    assert.equal(1, #S[id(1)].children)
    -- tree() over the spans query: one trace, one root, B under P
    local traces = query.open(recs):spans():tree()
    assert.equal(1, #traces)
    assert.equal(1, #traces[1].roots)
    local p = traces[1].roots[1]
    assert.equal(id(1), p.id)
    assert.equal(2, #p.children)
    assert.equal(id(3), p.children[2].id)
    assert.equal(1, p.children[2].depth)
    assert.is_false(p.children[2].orphan)
    assert.equal(3, traces[1].spans)
    assert.equal(25, traces[1].finish)
    -- and the same as tree() over the records
    local direct = query.open(recs):tree()
    assert.equal(3, direct[1].spans)
    assert.equal(2, #direct[1].roots[1].children)
  end)
end)

describe("span shape", function()
  local function spans_of(recs)
    local S = {}
    for s in query.open(recs):spans():iter() do S[s.id] = s end
    return S
  end

  it("shares one read-only empty table for missing events and children; attrs always a table", function()
    local S = spans_of({
      { type = "start", id = id(1), name = "a", ts = 1 },
      { type = "start", id = id(2), name = "b", ts = 2 },
      { type = "event", id = id(1), name = "e", ts = 3 },
      { type = "attr", id = id(2), ts = 4, attrs_json = '{"k":1}' },
      { type = "attr", id = id(2), ts = 5, attrs_json = '{"j":2}' },
      { type = "attr", id = id(2), ts = 6, attrs_json = '{"k":3}' },
    })
    local a, b = S[id(1)], S[id(2)]
    assert.equal(query.EMPTY, b.events)
    assert.equal(b.events, a.children)
    assert.has_error(function() b.events[1] = 1 end)
    assert.equal(1, #a.events)
    assert.same({}, a.attrs)
    assert.is_nil(a.attrs.item)   -- a table even without attributes
    assert.same({ k = 3, j = 2 }, b.attrs)  -- later records win
    assert.equal(0, a.depth)
    assert.is_false(a.orphan)
  end)

  it("computes self time the same for unsorted children", function()
    local recs = { { type = "start", id = id(1), name = "p", ts = 0 } }
    for i, iv in ipairs({ { 50, 70 }, { 10, 20 }, { 15, 30 }, { 90, 120 }, { 60, 65 } }) do
      recs[#recs + 1] = { type = "start", id = id(i + 1), parent = id(1), name = "c", ts = iv[1] }
      recs[#recs + 1] = { type = "end", id = id(i + 1), ts = iv[2], status = "ok" }
    end
    recs[#recs + 1] = { type = "end", id = id(1), ts = 100, status = "ok" }
    -- union of [10,30], [50,70], [90,100] = 50 of 100
    assert.equal(50, spans_of(recs)[id(1)].self)
  end)
end)

describe("query.open with follow", function()
  it("ends a pass when no data is left and resumes later", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"type":"start","id":"' .. id(1) .. '","name":"a","ts":1}\n')
    f:write('{"type":"start","id":"' .. id(2) .. '","parent":"' .. id(1) .. '","name":"b","ts":2}\n')
    f:write('{"type":"end","id":"' .. id(2) .. '","ts":5,"status":"ok"}\n')
    f:flush()
    local q = query.open(path, { follow = true }):spans()
    local got = {}
    for s in q:iter() do got[#got + 1] = s.name end
    assert.same({ "b" }, got)  -- a is still open: not handed out as final
    f:write('{"type":"end","id":"' .. id(1) .. '","ts":9,"status":"ok"}\n')
    f:flush()
    for s in q:iter() do got[#got + 1] = s.name .. ":" .. s.self end
    assert.same({ "b", "a:5" }, got)
    f:close()
    os.remove(path)
  end)
end)

describe("--where expressions", function()
  local span = { name = "db.query", dur = 30 * MS, status = "ok", attrs = { rows = 3 } }

  it("rewrites duration literals outside strings", function()
    assert.equal("dur > 5000000", query.rewrite_units("dur > 5ms"))
    assert.equal("dur < 1500000000", query.rewrite_units("dur < 1.5s"))
    assert.equal("x == '5ms' and y5ms", query.rewrite_units("x == '5ms' and y5ms"))
    assert.equal("a > 250000 or b > 2", query.rewrite_units("a > 250us or b > 2"))
    assert.equal("c == 0x10", query.rewrite_units("c == 0x10"))
  end)

  it("compiles expressions over span fields", function()
    local f = assert(query.compile_where('dur > 5ms and name:find("db") ~= nil'))
    assert.is_true(f(span))
    assert.is_false(f({ name = "db.query", dur = 4 * MS }))
    f = assert(query.compile_where("attrs.rows >= 3 and math.max(1, 2) == 2"))
    assert.is_true(f(span))
    assert.same({ "dur", "name" }, query.expr_fields('dur > 1ms and name == "x"'))
  end)

  it("reports syntax errors with a position", function()
    local f, msg, col = query.compile_where("dur > > 5ms")
    assert.is_nil(f)
    assert.matches("near '>'", msg)
    assert.equal(5, col)
    f, msg, col = query.compile_where("dur >")
    assert.is_nil(f)
    assert.equal(6, col)
  end)

  it("runs in a sandbox without os, io, load, require (refused when compiled)", function()
    for _, expr in ipairs({ "os.exit(3)", "io.open('/etc/passwd')", "load('return 1')()", "require('os')" }) do
      local f, msg = query.compile_where(expr)
      assert.is_nil(f)
      assert.matches("is not available in an expression", msg)
    end
    -- and at run time, for a way around the check
    local f = assert(query.compile_where("(function(t) return t.os end)(string) == nil"))
    assert.is_true(f(span))
  end)
end)

-- The query API as an analysis script uses it.
describe("queries in scripts", function()
  local path = FIX .. "/query_basic.jsonl"

  it("can be iterated again: a path is read again", function()
    local spans = query.open(path):spans()
    assert.equal(12, spans:count())
    assert.equal(12, spans:count())
    local slow = spans:where(function(s) return s.dur and s.dur >= 30 * MS end)
    assert.equal(4, #slow:collect())
    assert.equal(4, #slow:collect())
    local n = 0
    local recs = query.open(path)
    for _ in recs:iter() do n = n + 1 end
    for _ in recs:iter() do n = n + 1 end
    assert.equal(52, n)
    -- a list of records restarts too; traces as well
    local list = query.open(read_records(path))
    assert.equal(12, list:count())
    assert.equal(6, #list:traces())
    assert.equal(6, #list:traces())
  end)

  it("raises a clear error when its source cannot be read twice", function()
    local core = require("spanline.core")
    local q = query.open(assert(core.reader(path))):spans()
    assert.equal(12, q:count())
    local ok, err = pcall(q.count, q)
    assert.is_false(ok)
    assert.matches("already read", err)
    assert.matches("cannot be read twice", err)
    local it = query.from_iter(function() return nil end)
    it:count()
    assert.has_error(function() it:count() end)
  end)

  it("where takes the CLI's expression language", function()
    local q = query.open(path)
    assert.equal(3, q:where('name == "db.query" and dur >= 4ms'):count())
    -- a span the expression cannot evaluate (dur of an open span) does not match
    assert.equal(11, q:where("dur >= 0"):count())
    assert.equal(1, q:where("attrs.sql ~= nil"):count())
    local ok, err = pcall(q.where, q, "dur > > 1ms")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'where'", err)
    assert.has_error(function() q:where(42) end)
  end)

  it("top and sort_by both return queries", function()
    local q = query.open(FIX .. "/query_pct.jsonl")
    local top, sorted = q:top(3, "dur"), q:where({ name = "op" }):sort_by("dur", "desc")
    assert.equal(getmetatable(q), getmetatable(top))
    assert.equal(getmetatable(q), getmetatable(sorted))
    assert.same({ 50 * MS, 10 * MS, 9 * MS }, top:map(function(s) return s.dur end):collect())
    assert.same({ 10 * MS, 9 * MS }, sorted:limit(2):map(function(s) return s.dur end):collect())
    assert.equal(1, top:where({ dur = 9 * MS }):count())
    assert.equal(3, top:count())  -- again: the source is read again
  end)

  it("names stats fields as `spanline report` titles its columns", function()
    local report = require("spanline.report")
    local rows = query.open(path):group_by("name"):stats()
    for i = 2, #report.COLUMNS do
      local field, title = report.COLUMNS[i][1], report.COLUMNS[i][2]
      assert.equal(field, title)
      assert.is_true(rows[1][field] ~= nil or field == "stdev", field)
    end
    assert.equal("request", rows[1].name)  -- the first column, titled by the grouping
    assert.equal(rows[1].key, rows[1].name)
    local text = report.table(rows, { title = "name" })
    assert.matches("self_total%s+self_mean", text)
  end)

  it("critical_path with clip = false follows children that outlive the root", function()
    -- js-logger: the root ends at 1.70 s; its children run on to 3.23 s
    local q = query.open(FIX .. "/js-logger/polykey-cli-agent-start.jsonl")
    local t = q:traces()[1]
    local root = t.roots[1]
    assert.is_true(root.finish < t.finish)
    local function covered(segs)
      local sum = 0
      for i, s in ipairs(segs) do
        sum = sum + (s.finish - s.start)
        if i > 1 then assert.equal(segs[i - 1].finish, s.start) end
      end
      return sum, segs[#segs].finish
    end
    local clipped, last = covered(q:critical_path())
    assert.equal(root.dur, clipped)
    assert.equal(root.finish, last)
    local whole, wlast = covered(q:critical_path({ clip = false }))
    assert.equal(t.dur, whole)
    assert.equal(t.finish, wlast)
    -- and by trace id (the root's trace), the same
    assert.equal(#q:critical_path({ clip = false }), #q:critical_path(t.trace, { clip = false }))
  end)
end)

describe("tracer:records()", function()
  it("keeps integers as integers (timestamps, lanes, attributes)", function()
    local spanline = require("spanline")
    for _, format in ipairs({ "jsonl", "msgpack" }) do
      local tr = assert(spanline.tracer({ output = ":memory:", format = format }))
      local s = tr:start("x", { n = 3, big = 9007199254740993, f = 1.5 })
      s:event("e", { k = 7 })
      s:finish()
      local start
      for _, rec in ipairs(tr:records()) do
        if rec.type == "start" then start = rec end
        if rec.type == "event" then assert.equal("integer", math.type(rec.attrs.k)) end
      end
      assert.equal("integer", math.type(start.ts), format)
      assert.equal("integer", math.type(start.attrs.n), format)
      assert.equal(9007199254740993, start.attrs.big)
      assert.equal("float", math.type(start.attrs.f))
      tr:close()
    end
  end)
end)
