-- instrument_hook_spec.lua: hook-mode instrumentation changes nothing the
-- program can observe (error positions, debug.getinfo, tracebacks, function
-- identity, its own debug hooks), and its spans follow tail calls, yields,
-- errors and coroutines the way the program's frames do.
local core = require("spanline.core")
local instrument = require("spanline.instrument")
local helper = require("instrument_helper")

local function spans_of(records)
  local list, by_name, by_id = helper.spans(records())
  return list, by_name, by_id
end

-- A module for the cases below; every function in it is instrumented.
local made = {}   -- the modules made by the running test
local function make_module()
  local m = {}
  made[#made + 1] = m
  function m.check(x)
    if type(x) ~= "number" then error("number expected, got " .. type(x), 2) end
    return x
  end
  function m.check3(x)
    if type(x) ~= "number" then error("deep: number expected", 3) end
    return x
  end
  function m.where() local info = debug.getinfo(2, "Sl"); return info.short_src, info.currentline end
  function m.name() return debug.getinfo(1, "n").name, debug.getinfo(1, "n").namewhat end
  function m.trace() return debug.traceback("here", 1) end
  function m.index(t) return t.field.sub end            -- a runtime error for a nil field
  function m.fact(n)
    if n <= 1 then return 1 end
    local r = n * m.fact(n - 1)
    return r
  end
  function m.head() return m.tail_target() end           -- a tail call
  function m.tail_target() return "target" end
  function m.outer(f) local r = m.inner(f); return r end
  function m.inner(f) local r = f(); return r end
  function m.step(n) local got = coroutine.yield(n); local r = m.leaf(got); return r end
  function m.leaf(x) return x end
  function m.spawn() local co = coroutine.create(function() local r = m.leaf(1); return r end)
                     local _, r = coroutine.resume(co); return r end
  function m.spawn_wrap() local f = coroutine.wrap(function() local r = m.leaf(2); return r end)
                          local r = f(); return r end
  function m.guard(f) local ok, err = pcall(m.inner, f); return ok, err end
  return m
end

-- A tracer, its records, and a module traced in hook mode, with its undo.
local function traced_module()
  local tracer, records = helper.new()
  local m = make_module()
  return tracer, records, m, instrument.instrument(tracer, m, { prefix = "m." })
end

-- Runs f(m) on an untraced module and on an instrumented one; returns both
-- results (packed) and the records of the traced run.
local function both(f)
  local tracer, records = helper.new()
  local results = {}
  for pass = 1, 2 do   -- one call site for both runs: tracebacks compare equal
    local m = make_module()
    local undo = pass == 2 and instrument.instrument(tracer, m, { prefix = "m.", mode = "hook" })
    results[pass] = table.pack(pcall(f, m))
    if undo then undo() end
  end
  return results[1], results[2], records
end

describe("hook mode", function()
  if not (helper.new() and helper.real) then
    it("needs the real tracer", function() pending("SPANLINE_FAKE_TRACER is set") end)
    return
  end

  -- (about this test's functions only: the suite may itself run under
  -- `spanline run --instrument`, which traces more as modules load)
  local base
  before_each(function()
    made = {}
    base = core.hook_stats()
  end)
  after_each(function()
    for _, m in ipairs(made) do
      for k, f in pairs(m) do assert.is_false(instrument.is_instrumented(f), k .. " left traced") end
    end
    if base.functions == 0 then assert.is_false(core.hook_stats().installed) end
  end)

  it("replaces no function: identity and aliases stay", function()
    local tracer = helper.new()
    local m = make_module()
    m.alias = m.check
    local before = {}
    for k, v in pairs(m) do before[k] = v end
    local undo = instrument.instrument(tracer, m)
    for k, v in pairs(m) do assert.equal(before[k], v, k) end
    assert.equal(m.alias, m.check)
    undo()
  end)

  it("error(msg, 2) and error(msg, 3) point where they do untraced", function()
    local plain, traced, records = both(function(m)
      local function caller() local r = m.check("a"); return r end
      local function caller3() local r = m.check3("a"); return r end
      local function outer3() local r = caller3(); return r end
      local _, e2 = pcall(caller)
      local _, e3 = pcall(outer3)
      return e2, e3
    end)
    assert.same(plain, traced)
    assert.truthy(traced[2]:find("instrument_hook_spec.lua:%d+: number expected, got string"))
    assert.truthy(traced[3]:find("instrument_hook_spec.lua:%d+: deep: number expected"))
    local _, by_name = spans_of(records)
    assert.equal("error", by_name["m.check"][1].status)
    assert.equal(traced[2], by_name["m.check"][1].error)
  end)

  it("debug.getinfo sees the real caller and the function's own name", function()
    local plain, traced = both(function(m)
      local src, line = m.where()
      local name, namewhat = m.name()
      return src, line, name, namewhat
    end)
    assert.same(plain, traced)
    assert.equal("name", traced[4])
    assert.truthy(traced[2]:find("instrument_hook_spec.lua", 1, true))
  end)

  it("debug.traceback is the untraced one", function()
    local plain, traced = both(function(m) return m.trace() end)
    assert.same(plain, traced)
    assert.truthy(traced[2]:find("^here\nstack traceback:\n\t[^\n]*instrument_hook_spec.lua:%d+: in function"))
  end)

  it("runtime errors keep their message and variable names", function()
    local plain, traced, records = both(function(m) return m.index({}) end)
    assert.same(plain, traced)
    assert.is_false(traced[1])
    assert.truthy(traced[2]:find("attempt to index a nil value (field 'field')", 1, true))
    local _, by_name = spans_of(records)
    assert.equal(traced[2], by_name["m.index"][1].error)
  end)

  it("a tail call ends the replaced frame's span; the callee is its sibling", function()
    local tracer, records, m, undo = traced_module()
    local outer = tracer:start("outer")
    assert.equal("target", m.head())
    outer:finish()
    undo()
    local list, by_name = spans_of(records)
    local head, target = by_name["m.head"][1], by_name["m.tail_target"][1]
    assert.equal("ok", head.status)
    assert.equal(outer:id(), head.parent)
    assert.equal(outer:id(), target.parent)            -- not head's child: head's frame is gone
    assert.equal("m.tail_target", list[#list].name)
  end)

  it("recursion nests one span per frame", function()
    local _, records, m, undo = traced_module()
    assert.equal(120, m.fact(5))
    undo()
    local list, _, by_id = spans_of(records)
    assert.equal(5, #list)
    for i = 2, 5 do assert.equal(list[i - 1].id, list[i].parent) end
    for _, s in ipairs(list) do assert.equal("ok", s.status) end
    assert.is_nil(list[1].parent)
    assert.truthy(by_id)
  end)

  it("frames an error unwinds end with the error at the pcall that stops it", function()
    local tracer, records, m, undo = traced_module()
    local root = tracer:start("root")
    local ok, err = pcall(m.outer, function() error("deep failure") end)
    assert.is_false(ok)
    m.leaf(1)                                          -- after the error: under root again
    root:finish()
    undo()
    local _, by_name = spans_of(records)
    local outer, inner, leaf = by_name["m.outer"][1], by_name["m.inner"][1], by_name["m.leaf"][1]
    assert.equal("error", outer.status)
    assert.equal("error", inner.status)
    assert.equal(err, inner.error)
    assert.equal(err, outer.error)
    assert.equal(inner.parent, outer.id)
    assert.equal(root:id(), leaf.parent)
    assert.equal(base.open, core.hook_stats().open)
  end)

  it("an error caught inside an instrumented function ends only the frames it unwound", function()
    local _, records, m, undo = traced_module()
    local ok, err = m.guard(function() error({ code = 7 }) end)
    undo()
    assert.is_false(ok)
    assert.equal(7, err.code)                           -- the error object itself
    local _, by_name = spans_of(records)
    assert.equal("ok", by_name["m.guard"][1].status)
    assert.equal("error", by_name["m.inner"][1].status)
    assert.equal("(error object is a table value)", by_name["m.inner"][1].error)
  end)

  it("under xpcall the span gets the error, not what the handler made of it", function()
    local plain, traced, records = both(function(m)
      return xpcall(m.outer, debug.traceback, function() error("xp failure", 0) end)
    end)
    assert.equal(plain[3]:match("^[^\n]*"), traced[3]:match("^[^\n]*"))
    local _, by_name = spans_of(records)
    assert.equal("xp failure", by_name["m.inner"][1].error)
    assert.equal("xp failure", by_name["m.outer"][1].error)
  end)

  it("a span stays open across a yield and keeps its parent", function()
    local tracer, records, m, undo = traced_module()
    local co
    tracer:with("creator", function()
      co = coroutine.create(function() local r = m.step(1); return r end)
      assert(coroutine.resume(co))
    end)
    tracer:with("resumer", function()
      local ok, r = coroutine.resume(co, 42)
      assert.is_true(ok)
      assert.equal(42, r)
    end)
    undo()
    local _, by_name = spans_of(records)
    local step, leaf = by_name["m.step"][1], by_name["m.leaf"][1]
    assert.equal("ok", step.status)
    assert.equal(by_name.creator[1].id, step.parent)   -- made under creator, ran on there
    assert.equal(step.id, leaf.parent)
  end)

  it("coroutines made inside an instrumented call start under its span", function()
    local _, records, m, undo = traced_module()
    assert.equal(1, m.spawn())
    assert.equal(2, m.spawn_wrap())
    undo()
    local _, by_name = spans_of(records)
    assert.equal(by_name["m.spawn"][1].id, by_name["m.leaf"][1].parent)
    assert.equal(by_name["m.spawn_wrap"][1].id, by_name["m.leaf"][2].parent)
  end)

  it("a coroutine made before the instrumentation is traced when resumed", function()
    local tracer, records = helper.new()
    local m = make_module()
    local co = coroutine.wrap(function() coroutine.yield(); return m.leaf(5) end)
    co()
    local undo = instrument.instrument(tracer, m, { prefix = "m." })
    assert.equal(5, co())
    undo()
    local _, by_name = spans_of(records)
    assert.equal(1, #by_name["m.leaf"])
    assert.equal("ok", by_name["m.leaf"][1].status)
  end)

  it("an error that kills a coroutine ends its spans (resume and wrap)", function()
    local plain, traced, records = both(function(m)
      local co = coroutine.create(function() return m.outer(function() error("co failure") end) end)
      local ok, err = coroutine.resume(co)
      local w = coroutine.wrap(function() m.inner(function() error("wrap failure") end) end)
      local ok2, err2 = pcall(w)
      return ok, err, coroutine.status(co), ok2, err2
    end)
    assert.same(plain, traced)
    local _, by_name = spans_of(records)
    assert.equal("error", by_name["m.outer"][1].status)
    assert.equal(traced[3], by_name["m.outer"][1].error)
    assert.equal(traced[3], by_name["m.inner"][1].error)
    assert.equal("error", by_name["m.inner"][2].status)
    assert.truthy(by_name["m.inner"][2].error:find("wrap failure", 1, true))
    assert.equal(base.open, core.hook_stats().open)
  end)

  it("a coroutine closed or collected inside an instrumented call abandons its spans", function()
    local _, records, m, undo = traced_module()
    local closed = coroutine.create(function() return m.step(1) end)
    assert(coroutine.resume(closed))
    assert(coroutine.close(closed))
    do
      local dropped = coroutine.create(function() return m.step(2) end)
      assert(coroutine.resume(dropped))
    end
    for _ = 1, 4 do collectgarbage("collect") end
    assert.equal(base.open, core.hook_stats().open)
    undo()
    local _, by_name = spans_of(records)
    assert.equal(2, #by_name["m.step"])
    assert.equal("abandoned", by_name["m.step"][1].status)
    assert.equal("abandoned", by_name["m.step"][2].status)
  end)

  it("the program's own debug hook keeps working and is all debug.gethook shows", function()
    local tracer, records = helper.new()
    local m = make_module()
    local calls = 0
    local function host(event) if event == "call" then calls = calls + 1 end end
    debug.sethook(host, "c")
    local undo = instrument.instrument(tracer, m, { prefix = "m." })
    local h, mask, count = debug.gethook()
    assert.same({ host, "c", 0 }, { h, mask, count })
    calls = 0
    m.leaf(1)
    assert.is_true(calls >= 1)
    -- set and cleared while instrumented: tracing goes on
    local lines = {}
    debug.sethook(function(_, line) lines[#lines + 1] = line end, "l")
    m.leaf(2)
    debug.sethook()
    assert.is_nil(debug.gethook())
    m.leaf(3)
    assert.is_true(#lines > 0)
    debug.sethook(host, "c")
    undo()
    assert.equal(host, debug.gethook())               -- still the program's, after undo
    debug.sethook()
    local _, by_name = spans_of(records)
    assert.equal(3, #by_name["m.leaf"])
  end)

  it("a count hook of the program is served, tracing goes on", function()
    local _, records, m, undo = traced_module()
    local ticks = 0
    debug.sethook(function() ticks = ticks + 1 end, "", 10)
    for i = 1, 100 do m.leaf(i) end
    debug.sethook()
    undo()
    assert.is_true(ticks > 10)
    local _, by_name = spans_of(records)
    assert.equal(100, #by_name["m.leaf"])
  end)

  it("the program's line events are those it gets untraced", function()
    local function lines_of(m)
      local seen = {}
      debug.sethook(function(_, line) seen[#seen + 1] = line end, "l")
      m.fact(3)
      debug.sethook()
      return table.concat(seen, ",")
    end
    local plain, traced = both(lines_of)
    assert.same(plain, traced)
  end)

  it("undo takes the hook off; a start hook calling traced code does not recurse", function()
    local tracer, records, m, undo = traced_module()
    local unsubscribe = tracer:on("start", function(span)
      if span:name() == "m.fact" then m.leaf(0) end
    end)
    assert.equal(2, m.fact(2))
    unsubscribe()
    undo()
    assert.is_nil(debug.gethook())
    if base.functions == 0 then assert.is_false(core.hook_stats().installed) end
    local _, by_name = spans_of(records)
    assert.equal(2, #by_name["m.fact"])
    assert.is_nil(by_name["m.leaf"])                   -- not traced from inside the hook
  end)
end)

describe("wrap mode", function()
  it("is what the README says: callees see the wrapper's C frame", function()
    local tracer = helper.new()
    local m = make_module()
    local plain_src = select(1, m.where())
    instrument.instrument(tracer, m, { mode = "wrap" })
    local src = m.where()
    assert.not_equal(plain_src, src)
    assert.equal("[C]", src)
  end)
end)
