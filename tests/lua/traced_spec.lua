-- traced_spec: tracer:traced and tracer:with (results, errors re-raised
-- unchanged, nesting, yields through the wrapper).
local spanline = require("spanline")
local h = require("tracer_helpers")

describe("traced", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("runs fn inside a span and returns all its results", function()
    local f = t:traced("f", function(a, b)
      assert.are.equal("f", spanline.current():name())
      return a + b, nil, "x", nil
    end)
    local r = table.pack(f(1, 2))
    assert.are.equal(4, r.n)
    assert.are.equal(3, r[1])
    assert.is_nil(r[2])
    assert.are.equal("x", r[3])
    assert.is_nil(spanline.current())
    local st = h.start_of(t, "f")
    assert.are.equal("ok", h.end_of(t, st.id).status)
  end)

  it("makes one span per call", function()
    local f = t:traced("each", function() end)
    for _ = 1, 5 do f() end
    local n = 0
    for _, st in ipairs(h.of(t, "start")) do if st.name == "each" then n = n + 1 end end
    assert.are.equal(5, n)
    assert.are.equal(5, #h.of(t, "end"))
  end)

  it("records a string error and re-raises it unchanged", function()
    local f = t:traced("fails", function() error("boom", 0) end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.are.equal("boom", err)
    local en = h.end_of(t, h.start_of(t, "fails").id)
    assert.are.equal("error", en.status)
    assert.are.equal("boom", en.error)
    local g = t:traced("fails2", function() error("with position") end)
    ok, err = pcall(g)
    assert.matches("traced_spec.lua:%d+: with position$", err)
    assert.are.equal(err, h.end_of(t, h.start_of(t, "fails2").id).error)
  end)

  it("re-raises a table error value itself and describes it", function()
    local obj = { code = 42 }
    local f = t:traced("tbl", function() error(obj) end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.are.equal(obj, err)
    local en = h.end_of(t, h.start_of(t, "tbl").id)
    assert.are.equal("error", en.status)
    assert.are.equal("(error object is a table value)", en.error)
    local custom = setmetatable({}, { __tostring = function() return "custom error" end })
    ok, err = pcall(t:traced("custom", function() error(custom) end))
    assert.are.equal(custom, err)
    assert.are.equal("custom error", h.end_of(t, h.start_of(t, "custom").id).error)
    ok, err = pcall(t:traced("nilerr", function() error(nil) end))
    assert.is_false(ok)
    assert.is_nil(err)
    assert.are.equal("(error object is a nil value)", h.end_of(t, h.start_of(t, "nilerr").id).error)
  end)

  it("re-raises an error whose __tostring raises, unchanged, and ends the span", function()
    local bad = setmetatable({}, { __tostring = function() error("tostring exploded") end })
    local notstring = setmetatable({}, { __tostring = function() return {} end })
    for _, case in ipairs({ { "traced", bad }, { "with", bad }, { "traced", notstring } }) do
      local how, obj = case[1], case[2]
      local name = how .. " " .. tostring(obj == bad)
      local ok, err
      if how == "traced" then
        ok, err = pcall(t:traced(name, function() error(obj) end))
      else
        ok, err = pcall(t.with, t, name, function() error(obj) end)
      end
      assert.is_false(ok)
      assert.are.equal(obj, err)   -- the original object, not the __tostring error
      assert.is_nil(spanline.current())   -- the span is not left current
      local en = h.end_of(t, h.start_of(t, name).id)
      assert.are.equal("error", en.status)
      assert.matches("^%(error object is a table value", en.error)
    end
    local after = t:start("after")      -- a root, not a child of a stuck span
    after:finish()
    assert.is_nil(h.start_of(t, "after").parent)
  end)

  it("finish with an error object whose __tostring raises still ends the span", function()
    local bad = setmetatable({}, { __tostring = function() error("tostring exploded") end })
    local s = t:start("s")
    s:finish("error", bad)
    assert.is_false(s:is_open())
    assert.is_nil(spanline.current())
    assert.matches("__tostring raised", h.end_of(t, s:id()).error)
  end)

  it("nests: an inner traced call is a child of the outer one", function()
    local inner = t:traced("inner", function() return spanline.current():parent_id() end)
    local outer = t:traced("outer", function() return inner(), spanline.current():id() end)
    local pid, oid = outer()
    assert.are.equal(oid, pid)
    assert.are.equal(h.start_of(t, "outer").id, h.start_of(t, "inner").parent)
  end)

  it("yields through the wrapper", function()
    local f = t:traced("yielding", function(x)
      local y = coroutine.yield(x + 1)
      return y * 2
    end)
    local co = coroutine.create(f)
    local ok, v = coroutine.resume(co, 1)
    assert.is_true(ok)
    assert.are.equal(2, v)
    assert.is_nil(h.end_of(t, h.start_of(t, "yielding").id))   -- still open
    ok, v = coroutine.resume(co, 10)
    assert.is_true(ok)
    assert.are.equal(20, v)
    assert.are.equal("ok", h.end_of(t, h.start_of(t, "yielding").id).status)
  end)

  it("records an error raised after a yield", function()
    local f = t:traced("late error", function()
      coroutine.yield()
      error({ "late" })
    end)
    local co = coroutine.create(f)
    assert(coroutine.resume(co))
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.are.same({ "late" }, err)
    assert.are.equal("error", h.end_of(t, h.start_of(t, "late error").id).status)
  end)

  it("abandons the span of a coroutine closed while suspended inside fn", function()
    local f = t:traced("suspended", function() coroutine.yield() end)
    local co = coroutine.create(f)
    assert(coroutine.resume(co))
    assert(coroutine.close(co))
    co = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal("abandoned", h.end_of(t, h.start_of(t, "suspended").id).status)
  end)

  it("tolerates fn finishing its own span", function()
    local f = t:traced("self-finish", function() spanline.current():finish("error", "mine") end)
    f()
    local en = h.end_of(t, h.start_of(t, "self-finish").id)
    assert.are.equal("mine", en.error)
  end)

  it("with() runs once inside a span, passing arguments and results", function()
    local a, b = t:with("once", function(x, y)
      assert.are.equal("once", spanline.current():name())
      return y, x
    end, 1, 2)
    assert.are.equal(2, a)
    assert.are.equal(1, b)
    assert.are.equal("ok", h.end_of(t, h.start_of(t, "once").id).status)
    local obj = {}
    local ok, err = pcall(t.with, t, "bad", function() error(obj) end)
    assert.is_false(ok)
    assert.are.equal(obj, err)
  end)

  it("accepts a callable table", function()
    local callable = setmetatable({}, { __call = function(_, x) return x end })
    assert.are.equal(7, t:traced("callable", callable)(7))
  end)

  it("raises naming the argument on wrong types", function()
    local ok, err = pcall(function() return t:traced(nil, print) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'traced' %(string expected, got nil%)", err)
    ok, err = pcall(function() return t:traced("x", 42) end)
    assert.matches("bad argument #2 to 'traced' %(function expected, got number%)", err)
    ok, err = pcall(function() return t:with("x") end)
    assert.matches("bad argument #2 to 'with' %(function expected, got no value%)", err)
  end)

  it("keeps working after the tracer closed, without touching the context", function()
    local f = t:traced("after close", function(x) return x end)
    local sampled_out = h.mem{ sample = 0 }
    local u = sampled_out:start("unsampled root")      -- current: children unsampled
    t:close()
    assert.are.equal(5, f(5))
    assert.are.equal(u, spanline.current())           -- still unsampled context
    t:start("closed"):finish()
    assert.are.equal(u, spanline.current())
    u:finish()
    assert.is_nil(spanline.current())
    sampled_out:close()
  end)
end)

-- traced/with spans have no Lua object unless one is asked for (current(),
-- active(), hooks); such an object is only a view: dropping it never
-- abandons the call's span.
describe("traced spans without objects", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("hands out the same object while it is referenced", function()
    local f = t:traced("same", function()
      local a = spanline.current()
      local b = spanline.current()
      assert.are.equal(a, b)
      assert.is_true(a:is_open())
      return a
    end)
    local s = f()
    assert.are.equal("same", s:name())
    assert.is_false(s:is_open())
    assert.has_error(function() s:finish() end, "span 'same' already finished")
    assert.has_error(function() s:set("k", 1) end)
  end)

  it("a collected object does not end the call's span", function()
    local f = t:traced("kept", function()
      local id = spanline.current():id()
      collectgarbage()
      collectgarbage()
      assert.are.equal(id, spanline.current():id())   -- a new object, same span
      return id
    end)
    local id = f()
    assert.are.equal("ok", h.end_of(t, id).status)
    assert.are.equal(0, t:stats().abandoned)
  end)

  it("active() lists a traced span while its call runs", function()
    local names
    t:with("outer", function()
      names = {}
      for _, s in ipairs(t:active()) do names[#names + 1] = s:name() end
    end)
    assert.are.same({ "outer" }, names)
    assert.are.equal(0, #t:active())
  end)

  it("a coroutine created inside a traced call gets it as current and parent", function()
    local inner
    local f = t:traced("creator", function()
      local co = spanline.coroutine.create(function()
        collectgarbage()
        inner = spanline.current() and spanline.current():name()
        t:start("child"):finish()
      end)
      assert(coroutine.resume(co))
    end)
    f()
    assert.are.equal("creator", inner)
    assert.are.equal(h.start_of(t, "creator").id, h.start_of(t, "child").parent)
  end)

  it("passes many arguments and results through traced() and with()", function()
    local args = {}
    for i = 1, 300 do args[i] = i end
    local f = t:traced("many", function(...) return ... end)
    local r = table.pack(f(table.unpack(args)))
    assert.are.equal(300, r.n)
    assert.are.equal(300, r[300])
    r = table.pack(t:with("many with", function(...) return select("#", ...), ... end, table.unpack(args)))
    assert.are.equal(301, r.n)
    assert.are.equal(300, r[1])
    assert.are.equal(299, r[300])
    assert.are.equal("ok", h.end_of(t, h.start_of(t, "many with").id).status)
  end)

  it("with() yields through and records an error raised after a yield", function()
    local co = coroutine.wrap(function()
      return t:with("w", function(x)
        local y = coroutine.yield(x + 1)
        error({ code = y }, 0)
      end, 1)
    end)
    assert.are.equal(2, co())
    local ok, err = pcall(co, 7)
    assert.is_false(ok)
    assert.are.equal(7, err.code)
    assert.are.equal("error", h.end_of(t, h.start_of(t, "w").id).status)
    assert.is_nil(spanline.current())
  end)

  it("with() and traced() spans end once under many nested calls", function()
    local depth = 0
    local f
    f = t:traced("rec", function(n)
      depth = math.max(depth, n)
      if n < 50 then return f(n + 1) end
      return n
    end)
    assert.are.equal(50, f(1))
    local st = t:stats()
    assert.are.equal(50, st.spans_started)
    assert.are.equal(50, st.spans_ended)
    assert.are.equal(0, st.spans_open)
  end)
end)
