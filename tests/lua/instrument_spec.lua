-- instrument_spec.lua: tracer:instrument / undo and instrument_require, in
-- both modes (hook: nothing replaced; wrap: wrappers in the slots). What
-- hook mode keeps exactly as the untraced program has it is in
-- instrument_hook_spec.lua.
local instrument = require("spanline.instrument")
local helper = require("instrument_helper")

local function names(records, kind)
  local out = {}
  for _, r in ipairs(records) do
    if r.type == (kind or "start") then out[#out + 1] = r.name end
  end
  return out
end

-- The modes to run the shared cases in (the fake tracer has no hook mode).
local function modes()
  helper.new()
  return helper.real and { "hook", "wrap" } or { "wrap" }
end

for _, mode in ipairs(modes()) do
describe("instrument (" .. mode .. " mode)", function()
  local tracer, records
  local undos = {}
  local function trace(target, opts)
    opts = opts or {}
    opts.mode = mode
    local undo = instrument.instrument(tracer, target, opts)
    undos[#undos + 1] = undo
    return undo
  end
  before_each(function() tracer, records = helper.new() end)
  after_each(function()
    for i = #undos, 1, -1 do undos[i]() end
    undos = {}
  end)

  it("traces every function of a table in a span named prefix..key", function()
    local m = { a = function(x) return x + 1 end, b = function(...) return select("#", ...), ... end,
                n = 42, s = "text" }
    trace(m, { prefix = "m." })
    assert.equal(3, m.a(2))
    local n, x, y, z = m.b(1, nil, 3)
    assert.same({ 3, 1, nil, 3 }, { n, x, y, z })
    assert.equal(42, m.n)
    assert.equal("text", m.s)
    assert.same({ "m.a", "m.b" }, names(records()))
    local list = helper.spans(records())
    assert.equal("ok", list[1].status)
    assert.equal("ok", list[2].status)
  end)

  it("undo stops the tracing and leaves every original in place", function()
    local f, g = function() return 1 end, function() return 2 end
    local m = { f = f, g = g, same_f = f }
    local undo = trace(m)
    assert.is_true(instrument.is_instrumented(m.f))
    assert.equal(f, instrument.original(m.f))
    if mode == "hook" then
      assert.equal(f, m.f)              -- nothing was replaced
      assert.is_false(instrument.is_wrapper(m.f))
    else
      assert.not_equal(f, m.f)
      assert.is_true(instrument.is_wrapper(m.f))
    end
    undo()
    assert.equal(f, m.f)
    assert.equal(g, m.g)
    assert.equal(f, m.same_f)
    assert.is_false(instrument.is_instrumented(f))
    m.f()
    assert.same({}, names(records()))
    undo()   -- idempotent
    assert.equal(f, m.f)
  end)

  it("a function reached under several names is traced once and stays one function", function()
    local cap = function(s) return (s:gsub("^%l", string.upper)) end
    local m = { capitalize = cap, title = cap }
    trace(m, { prefix = "m." })
    assert.equal(m.capitalize, m.title)            -- identity kept in both modes
    assert.equal("Ab", m.title("ab"))
    assert.equal("Cd", m.capitalize("cd"))
    -- the first name in sorted key order names it
    assert.same({ "m.capitalize", "m.capitalize" }, names(records()))
  end)

  it("one function in two tables instrumented separately keeps one identity", function()
    local shared = function() return "x" end
    local a, b = { f = shared }, { g = shared }
    trace(a, { prefix = "a." })
    trace(b, { prefix = "b." })
    assert.equal(a.f, b.g)
    b.g()
    assert.same({ "a.f" }, names(records()))
  end)

  it("undo leaves alone a slot the program replaced meanwhile", function()
    local m = { f = function() end }
    local undo = trace(m)
    local mine = function() return "mine" end
    m.f = mine
    undo()
    assert.equal(mine, m.f)
  end)

  it("does not trace twice and the second undo is harmless", function()
    local f = function() return "x" end
    local m = { f = f }
    local undo1 = trace(m, { prefix = "one." })
    local w = m.f
    local undo2 = trace(m, { prefix = "two." })
    assert.equal(w, m.f)
    assert.equal("x", m.f())
    assert.same({ "one.f" }, names(records()))
    undo2()
    assert.equal(w, m.f)
    assert.is_true(instrument.is_instrumented(m.f))
    undo1()
    assert.equal(f, m.f)
    assert.is_false(instrument.is_instrumented(f))
  end)

  it("keeps self for methods called with ':'", function()
    local Account = {}
    Account.__index = Account
    function Account.new(balance) return setmetatable({ balance = balance }, Account) end
    function Account:deposit(n) self.balance = self.balance + n; return self end
    function Account:get() return self.balance end
    trace(Account, { prefix = "Account:" })
    local acc = Account.new(10)
    assert.equal(acc, acc:deposit(5))
    assert.equal(15, acc:get())
    assert.same({ "Account:new", "Account:deposit", "Account:get" }, names(records()))
  end)

  it("leaves metamethods alone unless asked", function()
    local C = {}
    C.__index = C
    C.__tostring = function() return "C" end
    function C.m() end
    trace(C)
    assert.is_false(instrument.is_instrumented(C.__tostring))
    assert.is_true(instrument.is_instrumented(C.m))
    local D = { __call = function() end }
    trace(D, { metamethods = true })
    assert.is_true(instrument.is_instrumented(D.__call))
  end)

  it("selects with only/except by name or Lua pattern", function()
    local m = { get_a = function() end, get_b = function() end, set_a = function() end,
                forget = function() end, helper = function() end }
    trace(m, { only = { "^get_", "helper" }, except = "get_b" })
    assert.is_true(instrument.is_instrumented(m.get_a))
    assert.is_false(instrument.is_instrumented(m.get_b))
    assert.is_false(instrument.is_instrumented(m.set_a))
    assert.is_false(instrument.is_instrumented(m.forget))
    assert.is_true(instrument.is_instrumented(m.helper))
  end)

  it("a plain name selects exactly, not as a substring", function()
    local m = { get = function() end, forget = function() end }
    trace(m, { only = { "get" } })
    assert.is_true(instrument.is_instrumented(m.get))
    assert.is_false(instrument.is_instrumented(m.forget))
  end)

  it("enters nested tables only when recursive, each once, through cycles", function()
    local m = { top = function() end, db = { query = function() return "rows" end } }
    m.db.parent = m            -- cycle
    m.db.self = m.db           -- self cycle
    m.alias = m.db             -- same table twice
    local undo0 = trace(m, { prefix = "m." })
    assert.is_false(instrument.is_instrumented(m.db.query))
    undo0()
    local q = m.db.query
    local undo = trace(m, { prefix = "m.", recursive = true })
    assert.is_true(instrument.is_instrumented(m.top))
    assert.is_true(instrument.is_instrumented(m.db.query))
    assert.equal("rows", m.alias.query())
    -- the first path in sorted key order names it: "alias" < "db"
    assert.same({ "m.alias.query" }, names(records()))
    undo()
    assert.equal(q, m.db.query)
  end)

  it("recursion reaches the methods a class inherits from a hidden base", function()
    local Animal = {}
    Animal.__index = Animal
    function Animal:speak() return self.sound end
    local Dog = setmetatable({}, { __index = Animal })
    Dog.__index = Dog
    function Dog.new() return setmetatable({ sound = "woof" }, Dog) end
    local m = { Dog = Dog }
    local speak = Animal.speak
    local undo = trace(m, { prefix = "zoo.", recursive = true })
    assert.equal("woof", m.Dog.new():speak())
    assert.same({ "zoo.Dog.new", "zoo.Dog.speak" }, names(records()))
    undo()
    assert.equal(speak, Animal.speak)
  end)

  it("except on a table key skips that subtree; only filters functions by path", function()
    local m = { a = { f = function() end }, b = { f = function() end, g = function() end } }
    trace(m, { recursive = true, except = { "a" }, only = { "b.f" } })
    assert.is_false(instrument.is_instrumented(m.a.f))
    assert.is_true(instrument.is_instrumented(m.b.f))
    assert.is_false(instrument.is_instrumented(m.b.g))
  end)

  it("never recurses into the standard library or other loaded modules", function()
    local dep = { g = function() end }
    package.loaded.instrument_spec_dep = dep
    local m = { str = string, tbl = table, loaded = package.loaded, f = function() end, dep = dep }
    trace(m, { recursive = true })
    package.loaded.instrument_spec_dep = nil
    assert.is_false(instrument.is_instrumented(string.format))
    assert.is_false(instrument.is_instrumented(table.insert))
    assert.is_false(instrument.is_instrumented(dep.g))
    assert.is_true(instrument.is_instrumented(m.f))
  end)

  it("records errors and re-raises the original error value", function()
    local boom = setmetatable({}, { __tostring = function() return "boom object" end })
    local m = { fail = function() error(boom) end, fails = function() error("plain", 0) end }
    trace(m, { prefix = "m." })
    local ok, err = pcall(m.fail)
    assert.is_false(ok)
    assert.equal(boom, err)
    ok, err = pcall(m.fails)
    assert.is_false(ok)
    assert.equal("plain", err)
    local _, by_name = helper.spans(records())
    assert.equal("error", by_name["m.fail"][1].status)
    assert.equal("boom object", by_name["m.fail"][1].error)
    assert.equal("error", by_name["m.fails"][1].status)
    assert.equal("plain", by_name["m.fails"][1].error)
  end)

  it("nests spans of instrumented calls that call each other", function()
    local m = {}
    function m.outer() local r = m.inner(); return r end
    function m.inner() return "in" end
    trace(m)
    assert.equal("in", m.outer())
    local _, by_name = helper.spans(records())
    assert.equal(by_name.outer[1].id, by_name.inner[1].parent)
  end)

  it("keeps each coroutine's parents across yields inside instrumented calls", function()
    if not helper.real then pending("needs the real tracer's per-coroutine context") return end
    local m = {}
    function m.step(n) coroutine.yield(n); local r = m.leaf(n); return r end
    function m.leaf(n) return n * 2 end
    trace(m)
    local co1 = coroutine.create(function() return m.step(1) end)
    local co2 = coroutine.create(function() return m.step(2) end)
    assert(coroutine.resume(co1)); assert(coroutine.resume(co2))
    local _, r2 = coroutine.resume(co2)
    local _, r1 = coroutine.resume(co1)
    assert.same({ 2, 4 }, { r1, r2 })
    local _, by_name = helper.spans(records())
    local step1, step2 = by_name.step[1], by_name.step[2]
    local leaf2, leaf1 = by_name.leaf[1], by_name.leaf[2]
    assert.equal(step2.id, leaf2.parent)
    assert.equal(step1.id, leaf1.parent)
    assert.is_nil(step2.parent)
    assert.equal("ok", step1.status)
  end)

  it("is reachable as tracer:instrument and tracer:lifecycle", function()
    if not helper.real then pending("needs the real tracer") return end
    local f = function() return 1 end
    local m = { f = f }
    local undo = tracer:instrument(m, { prefix = "via.", mode = mode })
    assert.equal(1, m.f())
    undo()
    assert.equal(f, m.f)
    local C = { start = function() end, stop = function() end }
    local undo_lc = tracer:lifecycle(C, { name = "life" })
    local obj = setmetatable({}, { __index = C })
    obj:start(); obj:stop()
    undo_lc()
    assert.same({ "via.f", "life" }, names(records()))
    local ok, err = pcall(tracer.instrument, tracer, nil)
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #1 to 'instrument' (table expected, got nil)", 1, true))
    assert.is_function(require("spanline").instrument_require)
  end)

  it("checks its arguments", function()
    assert.has_error(function() instrument.instrument(tracer, nil) end,
      "bad argument #1 to 'instrument' (table expected, got nil)")
    assert.has_error(function() trace({}, { only = 3 }) end)
    assert.has_error(function() trace({}, { prefix = 1 }) end)
    assert.has_error(function() trace({}, { except = { "get[" } }) end)
    local ok, err = pcall(instrument.instrument, tracer, {}, { mode = "patch" })
    assert.is_false(ok)
    assert.truthy(err:find([[bad option 'mode' to 'instrument' ("hook" or "wrap" expected, got 'patch')]], 1, true))
  end)
end)
end

describe("instrument modes", function()
  it("default to hook mode, which needs a spanline tracer", function()
    local tracer = helper.new()
    if not helper.real then pending("needs the real tracer") return end
    local f = function() end
    local m = { f = f }
    local undo = instrument.instrument(tracer, m)
    assert.equal(f, m.f)
    assert.is_true(instrument.is_instrumented(f))
    undo()
    local ok, err = pcall(instrument.instrument, {}, m)
    assert.is_false(ok)
    assert.truthy(err:find("hook mode needs a spanline tracer", 1, true))
  end)
end)

describe("instrument_require", function()
  local tracer, records, undo, dir
  local mode = "hook"
  before_each(function()
    tracer, records = helper.new()
    if not helper.real then mode = "wrap" end
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/irtest/deep"))
    local function write(path, text)
      local f = assert(io.open(dir .. "/" .. path, "w"))
      f:write(text)
      f:close()
    end
    write("irtest/init.lua", [[
      local M = { sub = require("irtest.sub") }
      local Box = {}
      Box.__index = Box
      function Box.new(v) return setmetatable({ v = v }, Box) end
      function Box:get() return self.v end
      M.Box = Box
      function M.twice(x) local r = M.sub.double(x); return r end
      return M
    ]])
    write("irtest/sub.lua", "return { double = function(x) return 2 * x end }")
    write("irtest/deep/er.lua", "return { f = function() return 'deep' end }")
    write("irtest_other.lua", "return { f = function() return 'other' end }")
    write("irtest_fn.lua", "return function(x) return x * 10 end")
    package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
  end)
  after_each(function()
    if undo then undo() end
    undo = nil
    for _, name in ipairs({ "irtest", "irtest.sub", "irtest.deep.er", "irtest_other", "irtest_fn" }) do
      package.loaded[name] = nil
    end
    package.path = package.path:gsub("^[^;]*;[^;]*;", "")
    os.execute("rm -rf " .. dir)
  end)

  it("instruments matching modules when they are required, recursively", function()
    local reg
    undo, reg = instrument.instrument_require("irtest.*", tracer, { mode = mode })
    local m = require("irtest")
    local other = require("irtest_other")
    local deep = require("irtest.deep.er")
    assert.equal(8, m.twice(4))
    assert.equal(3, m.Box.new(3):get())
    assert.equal("other", other.f())     -- irtest_other is not irtest's: no span
    assert.equal("deep", deep.f())       -- two levels below: `*` stops at a dot
    assert.same({ "irtest.twice", "irtest.sub.double", "irtest.Box.new", "irtest.Box.get" },
      names(records()))
    local _, by_name = helper.spans(records())
    assert.equal(by_name["irtest.twice"][1].id, by_name["irtest.sub.double"][1].parent)
    table.sort(reg.modules)
    assert.same({ "irtest", "irtest.sub" }, reg.modules)
  end)

  it("`**` reaches every depth; a plain name matches that module only", function()
    undo = instrument.instrument_require("irtest.**", tracer, { mode = mode })
    assert.equal("deep", require("irtest.deep.er").f())
    local undo2, reg2 = instrument.instrument_require("irtest_other", tracer, { mode = mode })
    require("irtest_other").f()
    undo2()
    assert.same({ "irtest.deep.er.f", "irtest_other.f" }, names(records()))
    assert.same({ "irtest_other" }, reg2.modules)
  end)

  it("tells which patterns matched nothing (registration.modules)", function()
    local reg
    undo, reg = instrument.instrument_require("nosuchmodule.*", tracer, { mode = mode })
    require("irtest")
    assert.same({}, reg.modules)
  end)

  it("refuses Lua patterns and malformed globs with a hint", function()
    for _, p in ipairs({ "^app%.", "irtest%.sub", "app.", "a..b", "a***", "" }) do
      local ok, err = pcall(instrument.instrument_require, p, tracer)
      assert.is_false(ok, p)
      assert.truthy(err:find("bad argument #1 to 'instrument_require'", 1, true), err)
    end
    local _, err = pcall(instrument.instrument_require, "^app%.", tracer)
    assert.truthy(err:find("module patterns are globs", 1, true))
  end)

  it("leaves non-matching modules alone and undo restores", function()
    local n = #package.searchers
    undo = instrument.instrument_require("irtest.sub", tracer, { mode = mode })
    local m = require("irtest")
    assert.is_true(instrument.is_instrumented(m.sub.double))
    assert.is_false(instrument.is_instrumented(m.twice))
    undo()
    undo = nil
    assert.equal(n, #package.searchers)
    assert.is_false(instrument.is_instrumented(m.sub.double))
  end)

  it("traces a module that is a function; undo leaves the original loaded", function()
    undo = instrument.instrument_require("irtest_fn", tracer, { mode = mode })
    local fn = require("irtest_fn")
    assert.equal(30, fn(3))
    assert.same({ "irtest_fn" }, names(records()))
    assert.equal(fn, package.loaded.irtest_fn)
    if mode == "hook" then assert.is_false(instrument.is_wrapper(fn)) end
    undo()
    undo = nil
    assert.is_false(instrument.is_instrumented(package.loaded.irtest_fn))
    assert.equal(instrument.original(fn), package.loaded.irtest_fn)
  end)

  it("wrap mode replaces a function module by its wrapper", function()
    undo = instrument.instrument_require("irtest_fn", tracer, { mode = "wrap" })
    local fn = require("irtest_fn")
    assert.is_true(instrument.is_wrapper(fn))
    undo()
    undo = nil
    assert.is_false(instrument.is_wrapper(package.loaded.irtest_fn))
  end)

  it("two registrations share one searcher and do not trace twice", function()
    local n = #package.searchers
    local undo2 = instrument.instrument_require("irtest.sub", tracer, { mode = mode })
    local shared = #package.searchers    -- n + 1, or n under `spanline run --instrument`
    assert.is_true(shared - n <= 1)
    undo = instrument.instrument_require("irtest.*", tracer, { mode = mode })
    assert.equal(shared, #package.searchers)
    local m = require("irtest")
    assert.equal(6, m.twice(3))
    assert.same({ "irtest.twice", "irtest.sub.double" }, names(records()))
    undo2()
    assert.equal(shared, #package.searchers)   -- still needed by the other one
    undo()
    undo = nil
    assert.equal(n, #package.searchers)
    assert.is_false(instrument.is_instrumented(m.twice))
  end)

  it("instruments matching modules that were loaded before", function()
    local m = require("irtest")
    undo = instrument.instrument_require("irtest", tracer, { mode = mode })
    assert.is_true(instrument.is_instrumented(m.twice))
    assert.is_false(instrument.is_instrumented(m.sub.double))  -- a module of its own, not matched
  end)

  it("keeps the usual error for a missing module", function()
    undo = instrument.instrument_require("irtest.*", tracer, { mode = mode })
    local ok, err = pcall(require, "irtest_missing")
    assert.is_false(ok)
    assert.truthy(err:find("module 'irtest_missing' not found", 1, true))
  end)

  it("check_pattern (only/except) agrees with Lua on which patterns are malformed", function()
    local cases = { "inv.*", "a[", "a[]", "a[]]", "[^]]x", "%", "a%", "%b()", "%b(", "%f[%w]x",
                    "%fx", "(a)", "(a", "a)", "((a)b)", "[%]]", "[a%", "%d+%.%d*", "()", "x%]" }
    for _, pat in ipairs(cases) do
      -- Lua only reports what its matcher reaches: gsub over a mixed subject
      -- walks most of a pattern, find also returns (so checks) the captures
      local subject = string.rep("ab]()[x1.%", 3)
      local lua_ok = pcall(string.gsub, subject, pat, "") and pcall(string.find, subject, pat)
      local ours = instrument.check_pattern(pat) == true
      assert.equal(lua_ok, ours, "pattern " .. pat)
    end
  end)

  it("spanline.instrument_require uses the default tracer", function()
    if not helper.real then pending("needs the real tracer") return end
    local spanline = require("spanline")
    local previous = spanline.set_default(tracer)
    undo = spanline.instrument_require("irtest_other")
    spanline.set_default(previous)
    assert.equal("other", require("irtest_other").f())
    assert.same({ "irtest_other.f" }, names(records()))
  end)

  it("never instruments spanline's own modules", function()
    undo = instrument.instrument_require("spanline.**", tracer, { mode = mode })
    assert.is_false(instrument.is_instrumented(instrument.instrument))
    assert.is_false(instrument.is_instrumented(instrument.lifecycle))
  end)
end)
