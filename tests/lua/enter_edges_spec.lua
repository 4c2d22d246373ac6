-- enter_edges_spec: tracer:enter/leave against the rest of the tracer
-- (hooks that close or re-enter, instrumentation, inheriting coroutines,
-- several tracers, sampling, closing and collecting with spans entered,
-- name lengths around the entry's inline buffer, boundedness). Run under
-- ASan too (tests/sanitize/run): some cases only show there.
local spanline = require("spanline")
local h = require("tracer_helpers")

local full_gc = h.full_gc

-- A name the program builds, so it can be collected after enter returns.
local function built(s) return table.concat({ s, tostring(math.random(1e6)) }, "#") end

-- Allocates strings that may land where collected names were.
local function churn()
  local t = {}
  for i = 1, 2000 do t[i] = string.rep("z", 40) .. i end
  return #t
end

describe("enter/leave edges", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("records names of 31, 32 and 33 bytes whole, also after their strings are collected", function()
    local names = {}
    for _, n in ipairs({ 0, 1, 30, 31, 32, 33, 200 }) do
      local name = string.rep("n", n - #tostring(n)) .. n
      if n < #tostring(n) then name = string.rep("e", n) end
      names[#names + 1] = name
    end
    for _, name in ipairs(names) do t:enter(name .. "") end
    full_gc()
    churn()
    for i = #names, 1, -1 do
      assert.are.equal(names[i], t:current():name())
      t:leave()
    end
    for _, name in ipairs(names) do assert.is_not_nil(h.start_of(t, name), name) end
  end)

  it("keeps no pointer to the caller's name for an unsampled root", function()
    local u = h.mem{ sample = 0 }
    u:enter(built(string.rep("unsampled.", 4)))
    full_gc()
    churn()
    local cur = u:current()            -- made from the entry: read the name (ASan)
    assert.is_true(cur ~= nil)
    assert.is_nil(cur:trace_id())
    assert.is_nil(spanline.current():trace_id())
    u:leave()
    assert.is_nil(u:current())
    u:close()
  end)

  it("leaves a failed leave (bad status, raising __tostring) without popping", function()
    t:enter("outer")
    t:enter("inner")
    assert.is_false(pcall(t.leave, t, 42))
    assert.is_false(pcall(t.leave, t, "fine"))
    assert.are.equal("inner", t:current():name())
    t:leave("error", setmetatable({}, { __tostring = function() error("no") end }))
    assert.are.equal("outer", t:current():name())
    t:leave()
    local en = h.end_of(t, h.start_of(t, "inner").id)
    assert.are.equal("error", en.status)
    assert.matches("__tostring raised", en.error)
    assert.are.equal("ok", h.end_of(t, h.start_of(t, "outer").id).status)
  end)

  it("keeps a span open across an error caught between enter and leave", function()
    local ok = pcall(function()
      t:enter("raises")
      error("boom")
    end)
    assert.is_false(ok)
    assert.are.equal("raises", t:current():name())
    assert.is_nil(h.end_of(t, h.start_of(t, "raises").id))
    t:leave("error", "caught")
    assert.are.equal("caught", h.end_of(t, h.start_of(t, "raises").id).error)
  end)

  it("pairs per tracer when two tracers interleave", function()
    local u = h.mem()
    t:enter("t.a")
    u:enter("u.a")
    t:enter("t.b")
    assert.are.equal("t.b", spanline.current():name())
    u:leave()                                  -- u's, though t entered since
    assert.are.equal("t.b", t:current():name())
    assert.is_nil(u:current())
    assert.has_error(function() u:leave() end)
    t:leave()
    t:leave()
    assert.are.equal(h.start_of(t, "t.a").id, h.start_of(t, "t.b").parent)
    assert.is_nil(h.start_of(u, "u.a").parent)
    assert.are.equal(2, #h.of(t, "end"))
    assert.are.equal(1, #h.of(u, "end"))
    u:close()
  end)

  it("records whole traces or nothing with sample = 0.5 and nested enters", function()
    local u = h.mem{ sample = 0.5 }
    for i = 1, 200 do
      u:enter("root", "i", i)
      u:enter("child")
      u:enter("grandchild")
      u:leave()
      u:leave()
      u:leave()
    end
    assert.has_error(function() u:leave() end)
    local roots, by_trace = 0, {}
    for _, r in ipairs(h.of(u, "start")) do
      by_trace[r.trace or r.id] = (by_trace[r.trace or r.id] or 0) + 1
      if r.name == "root" then roots = roots + 1 end
    end
    for _, n in pairs(by_trace) do assert.are.equal(3, n) end
    local st = u:stats()
    assert.are.equal(200, roots + st.unsampled)
    assert.is_true(roots > 0 and st.unsampled > 0)
    assert.are.equal(st.started, st.ended)
    u:close()
  end)

  it("survives a start hook that closes the tracer, and one that raises", function()
    local u = h.mem()
    u:on("start", function() u:close() end)
    u:enter("closed by its hook")
    assert.is_nil(u:leave())
    assert.are.equal("abandoned", h.end_of(u, h.start_of(u, "closed by its hook").id).status)
    local v = h.mem()
    v:on("start", function() error("hook fails") end)
    v:enter("kept")
    assert.are.equal("kept", v:current():name())
    v:leave()
    assert.are.equal("ok", h.end_of(v, h.start_of(v, "kept").id).status)
    v:close()
  end)

  it("survives an end hook that closes the tracer with more spans entered", function()
    local u = h.mem()
    u:enter("a")
    u:enter("b")
    u:on("end", function() u:close() end)
    u:leave()
    u:leave()
    local ends = h.of(u, "end")
    assert.are.equal(2, #ends)
    for _, en in ipairs(ends) do assert.are.equal("abandoned", en.status) end
  end)

  it("lets hooks enter and leave spans of their own", function()
    t:on("start", function() t:enter("from start hook"); t:leave() end)
    t:on("end", function() t:enter("from end hook"); t:leave() end)
    t:enter("user")
    t:leave()
    assert.is_nil(t:current())
    assert.has_error(function() t:leave() end)
    assert.are.equal(3, #h.of(t, "end"))
  end)

  it("writes events and attributes through the object of an entered span", function()
    t:enter("obj")
    local obj = t:current()
    obj:set("k", "v"):event("ev", { n = 1 })
    assert.are.equal(obj, spanline.current())
    assert.are.equal(obj, t:current())
    t:leave()
    assert.has_error(function() obj:finish() end)
    assert.has_error(function() obj:set("k", 1) end)
    local id = h.start_of(t, "obj").id
    local ev
    for _, r in ipairs(h.of(t, "event")) do if r.id == id then ev = r end end
    assert.are.equal("ev", ev.name)
    assert.are.same({ k = "v" }, h.end_of(t, id).attrs or { k = "v" })
  end)

  it("says nothing when the object of an entered span is used after close", function()
    local u = h.mem()
    u:enter("open at close")
    local obj = u:current()
    u:close()
    assert.has_no.errors(function() obj:set("k", 1) end)
    assert.has_no.errors(function() obj:event("late") end)
    assert.has_no.errors(function() obj:finish() end)
    assert.are.equal(1, #h.of(u, "end"))
  end)

  it("says nothing when the object outlives the coroutine that entered it", function()
    local obj
    do
      local co = coroutine.create(function()
        t:enter("in dead coroutine")
        obj = t:current()
        coroutine.yield()
      end)
      coroutine.resume(co)
    end
    full_gc()
    assert.are.equal("abandoned", h.end_of(t, h.start_of(t, "in dead coroutine").id).status)
    assert.has_no.errors(function() obj:finish() end)
  end)

  it("pairs in a coroutine resumed from another coroutine", function()
    local co = coroutine.create(function()
      t:enter("in co")
      coroutine.yield()
      t:enter("in co 2")
      coroutine.yield()
      t:leave()
      t:leave()
    end)
    assert(coroutine.resume(co))
    local other = coroutine.create(function()
      assert.is_nil(t:current())
      assert(coroutine.resume(co))
      assert.has_error(function() t:leave() end)
      assert(coroutine.resume(co))
    end)
    assert(coroutine.resume(other))
    assert.are.equal("dead", coroutine.status(co))
    local a, b = h.start_of(t, "in co"), h.start_of(t, "in co 2")
    assert.are.equal(a.id, b.parent)
    assert.are.equal(2, #h.of(t, "end"))
  end)

  it("is the parent of an inheriting coroutine's spans, also after leave", function()
    t:enter("creator")
    local gen = spanline.coroutine.wrap(function()
      local seen = t:current():name()
      t:enter("in child")
      coroutine.yield(seen)
      t:leave()
      t:enter("after leave")
      t:leave()
    end)
    assert.are.equal("creator", gen())
    local creator_id = t:current():id()
    t:leave()
    full_gc()
    churn()
    gen()
    assert.are.equal(creator_id, h.start_of(t, "in child").parent)
    assert.are.equal(creator_id, h.start_of(t, "after leave").parent)
  end)

  it("abandons what a closed coroutine entered once it is collected", function()
    local co = coroutine.create(function()
      t:enter("closed")
      t:enter("closed inner")
      coroutine.yield()
    end)
    coroutine.resume(co)
    assert(coroutine.close(co))
    assert.is_nil(t:current())
    co = nil
    full_gc()
    for _, name in ipairs({ "closed", "closed inner" }) do
      assert.are.equal("abandoned", h.end_of(t, h.start_of(t, name).id).status)
    end
  end)

  it("ends what a collected tracer had entered", function()
    local lines = {}
    do
      local u = spanline.tracer{ output = function(s) lines[#lines + 1] = s end }
      u:enter("a")
      u:enter(string.rep("long.", 10))
      u:enter("b", "k", "v")
    end
    full_gc()
    churn()
    local text = table.concat(lines)
    local ends = select(2, text:gsub('"abandoned"', ""))
    assert.are.equal(3, ends)
    assert.is_nil(spanline.current())
  end)

  it("runs inside hook-mode instrumented functions, whatever they leave entered", function()
    local m = {}
    function m.pairs_up() t:enter("inside"); t:leave(); return 1 end
    function m.leaves_open() t:enter("left open"); return 2 end
    function m.raises() t:enter("raised in"); error("x") end
    local undo = t:instrument(m, { prefix = "m.", mode = "hook" })
    assert.are.equal(1, m.pairs_up())
    assert.are.equal(2, m.leaves_open())
    assert.is_false(pcall(m.raises))
    undo()
    assert.are.equal("raised in", t:current():name())
    t:leave()
    assert.are.equal("left open", t:current():name())
    t:leave()
    local inside = h.start_of(t, "inside")
    assert.are.equal(h.start_of(t, "m.pairs_up").id, inside.parent)
    assert.are.equal(h.start_of(t, "m.leaves_open").id, h.start_of(t, "left open").parent)
    assert.are.equal("error", h.end_of(t, h.start_of(t, "m.raises").id).status)
    assert.are.equal(#h.of(t, "start"), #h.of(t, "end"))
  end)

  it("keeps the entry pool and the Lua heap flat over 10^5 enter/leave", function()
    local u = spanline.tracer{ output = function() end, sample = 0.5 }
    local long = string.rep("L", 40)
    local function round(n)
      for i = 1, n do
        u:enter("a")
        u:enter(long, "i", i)
        u:enter(string.rep("x", 32))
        u:leave()
        u:leave("error", "e")
        u:leave()
      end
    end
    round(1000)
    full_gc()
    local before = collectgarbage("count")
    round(100000)
    full_gc()
    assert.is_true(collectgarbage("count") < before + 64)
    local st = u:stats()
    assert.are.equal(st.started, st.ended)
    assert.are.equal(0, st.spans_open)
    u:close()
  end)
end)
