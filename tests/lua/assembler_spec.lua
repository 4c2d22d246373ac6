-- core.assembler from Lua: the C assembler's three modes through the
-- binding (records fed from a reader in C, or added as Lua tables), span
-- tables with the fields asked for, linked trace trees, misuse errors.
local core = require("spanline.core")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"
local MS = 1000000
local function id(n) return string.format("%032x", n) end

-- Feeds a whole file, handing out with take(asm) whenever something is
-- ready (stream, traces: feed stops there).
local function run(asm, path, take)
  local r = assert(core.reader(path))
  while true do
    local state = assert(asm:feed(r))
    if state == "eof" then asm:finish() end
    take(asm)
    if state == "eof" then return end
  end
end

describe("core.assembler", function()
  it("refuses started_only outside stream mode (a trace has no start flag to read)", function()
    for _, mode in ipairs({ "traces", "keep" }) do
      local ok, err = pcall(core.assembler, { mode = mode, started_only = true })
      assert.is_false(ok)
      assert.matches("bad argument #1 to '[%w.]*assembler' %(started_only needs mode \"stream\"%)", err)
    end
    assert.is_not_nil(core.assembler({ mode = "stream", started_only = true }))
    assert.is_not_nil(core.assembler({ mode = "traces", started_only = false }))
  end)

  it("streams spans in end order with the fields asked for", function()
    local asm = core.assembler({ mode = "stream" })
    local mask = core.span_fields({ "id", "self", "status" })
    local got, reused = {}, {}
    run(asm, FIX .. "/query_basic.jsonl", function(a)
      while true do
        local s = a:next(mask, reused)
        if not s then break end
        assert.equal(reused, s)
        assert.is_nil(rawget(s, "name"))  -- not asked for
        got[#got + 1] = s.id:sub(-2) .. ":" .. s.status
        if s.id == id(1) then assert.equal(40 * MS, s.self) end
      end
    end)
    assert.same({ "02:ok", "04:ok", "03:error", "01:ok", "05:ok", "07:ok", "06:ok", "09:ok", "0a:ok",
      "0c:ok", "0b:abandoned", "08:open" }, got)
    assert.equal(26, asm:stats().records)
    assert.matches('"pid":7', asm:meta())
  end)

  it("tells the linking facts of each span handed out", function()
    local asm = core.assembler()
    local facts = {}
    run(asm, FIX .. "/query_late.jsonl", function(a)
      while true do
        local s, ref, parent, pending, released = a:next()
        if not s then break end
        facts[s.name] = { ref = ref, parent = parent, pending = pending, released = released }
      end
    end)
    assert.equal(1, facts.parent.pending)          -- the worker is still open
    assert.equal(facts.parent.ref, facts.late.parent)
    assert.is_true(facts.worker.released)          -- the parent's last pending child
    assert.is_nil(facts.forgotten.parent)
  end)

  it("hands out whole traces as linked trees, children by start", function()
    local asm = core.assembler({ mode = "traces" })
    local traces = {}
    run(asm, FIX .. "/query_basic.jsonl", function(a)
      while true do
        local t = a:next_trace()
        if not t then break end
        traces[#traces + 1] = t
      end
    end)
    assert.equal(6, #traces)
    local root = traces[1].roots[1]
    assert.equal(id(1), traces[1].trace)
    assert.equal("request", root.name)
    assert.equal(3, #root.children)
    assert.same({ id(2), id(3), id(5) }, { root.children[1].id, root.children[2].id, root.children[3].id })
    assert.equal(root, root.children[2].parent_span)
    assert.equal("net.read", root.children[2].children[1].name)
    assert.same({ sql = "select 1", rows = 3 }, root.children[1].attrs)
    assert.same({}, root.children[2].attrs)         -- always a table
    assert.equal(0, #root.children[1].children)     -- the shared EMPTY table
    assert.equal(core.EMPTY, root.children[1].events)
    local late = traces[4].roots[1]
    assert.equal("late.parent", late.name)
    assert.is_false(late.children[1].orphan)        -- re-parented
  end)

  it("keeps everything in keep mode: roots, children, spans by ref", function()
    local asm = core.assembler({ mode = "keep" })
    run(asm, FIX .. "/query_basic.jsonl", function() end)
    local roots = asm:roots()
    assert.equal(6, #roots)
    local r1 = asm:find(id(1))
    assert.equal(roots[1], r1)
    local kids = asm:children(r1)
    assert.equal(3, #kids)
    local s = asm:span(kids[2])
    assert.equal("db.query", s.name)
    assert.equal("timeout", s.error)
    local six = asm:span(asm:find(id(6)))
    assert.equal(1, #six.events)
    assert.equal(2, six.events[1].attrs.attempt)
    assert.equal(200, six.attrs["http.status"])
    assert.is_nil(asm:find(id(77)))
    local st = asm:stats()
    assert.equal(12, st.spans)
    assert.equal(1, st.open)
  end)

  it("takes records built by hand, in any order", function()
    local asm = core.assembler({ mode = "keep" })
    assert.is_nil(asm:add({ type = "meta", format = "spanline/1" }))
    local c = asm:add({ type = "start", id = id(2), parent = id(1), name = "c", ts = 5 })
    asm:add({ type = "end", id = id(2), ts = 7, status = "ok" })
    local p = asm:add({ type = "start", id = id(1), name = "p", ts = 1 })
    asm:add({ type = "end", id = id(1), ts = 10, status = "ok" })
    assert.same({ c }, asm:children(p))
    assert.equal(7, asm:span(p).self)
    assert.equal(1, asm:span(c).depth)
    assert.has_error(function() asm:add({ type = "start", id = "nothex", ts = 1 }) end)
    assert.has_error(function() asm:add({ type = "bogus" }) end)
  end)

  it("reads a bound reader itself", function()
    local asm = core.assembler({ mode = "traces" })
    asm:bind(assert(core.reader(FIX .. "/query_basic.jsonl")))
    local n = 0
    while asm:next_trace() do n = n + 1 end
    assert.equal(6, n)
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.assembler({ mode = "all" }) end)
    assert.has_error(function() core.assembler({ mode = "keep" }):next() end)
    assert.has_error(function() core.assembler():next_trace() end)
    assert.has_error(function() core.span_fields({ "nope" }) end)
    assert.has_error(function() core.assembler({ mode = "keep" }):span(99) end)
    local asm = core.assembler()
    asm:close()
    assert.has_error(function() asm:stats() end)
  end)

  it("writes the records of matching spans (filter)", function()
    local asm = core.assembler({ raw = true })
    asm:bind(assert(core.reader(FIX .. "/query_basic.jsonl")))
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local matched, failures, first, seen = asm:filter(function(s) return s.status == "error" end, f, nil,
      core.span_fields({ "status" }))
    f:close()
    assert.same({ 1, 0, nil, 12 }, { matched, failures, first, seen })
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = line end
    os.remove(path)
    assert.equal(3, #lines)   -- meta, start, end of span 3
    assert.matches('"type":"meta"', lines[1])
    assert.matches(id(3), lines[2])
  end)
end)
