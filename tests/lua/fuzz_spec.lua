-- fuzz_spec.lua: spanline.fuzz itself: PRNG, generators, check, shrinking,
-- replay by seed, span programs and their interpreter (against a fake tracer).

local fuzz = require("spanline.fuzz")
local gen = fuzz.gen
local program = fuzz.program

local function opts(t)
  local o = { print = false }
  for k, v in pairs(t) do o[k] = v end
  return o
end

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b or (a ~= a and b ~= b) end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

describe("fuzz PRNG and sources", function()
  it("is deterministic per seed and differs across seeds", function()
    local a, b, c = gen.rng(7), gen.rng(7), gen.rng(8)
    local same, diff = true, false
    for _ = 1, 100 do
      local x, y, z = a:next(), b:next(), c:next()
      if x ~= y then same = false end
      if x ~= z then diff = true end
    end
    assert.is_true(same)
    assert.is_true(diff)
  end)

  it("draws uniformly inside the bound, including the full 64-bit range", function()
    local r = gen.rng(1)
    local seen = {}
    for _ = 1, 2000 do
      local v = r:below_or_eq(5)
      assert.is_true(v >= 0 and v <= 5)
      seen[v] = true
    end
    for v = 0, 5 do assert.is_true(seen[v]) end
    local neg = false
    for _ = 1, 100 do if r:below_or_eq(-1) < 0 then neg = true end end
    assert.is_true(neg) -- -1 is 2^64-1 unsigned: the whole range
  end)

  it("replays a choice list, clamping and padding with zeros", function()
    local src = gen.source{ replay = { 9, 1 } }
    assert.equal(3, src:draw(3))
    assert.equal(1, src:draw(3))
    assert.equal(0, src:draw(3))
  end)

  it("does not touch math.random's state", function()
    math.randomseed(123)
    local expect = math.random(1, 1000000)
    math.randomseed(123)
    fuzz.check(gen.list(gen.integer(0, 9)), function() return true end, opts{ seed = 5, runs = 20 })
    assert.equal(expect, math.random(1, 1000000))
  end)
end)

describe("fuzz generators", function()
  it("integers stay within bounds", function()
    fuzz.assert_property(gen.tuple{ gen.integer(-3, 5), gen.integer(10, 12), gen.integer(-9, -7),
      gen.integer(math.mininteger, math.maxinteger) }, function(t)
      return t[1] >= -3 and t[1] <= 5 and t[2] >= 10 and t[2] <= 12 and t[3] >= -9 and t[3] <= -7
        and math.type(t[4]) == "integer"
    end, opts{ seed = 11, runs = 300 })
  end)

  it("lists respect min and max", function()
    fuzz.assert_property(gen.list(gen.boolean(), { min = 2, max = 4 }), function(l)
      return #l >= 2 and #l <= 4
    end, opts{ seed = 3, runs = 200 })
  end)

  it("hostile strings contain quotes, control characters and invalid UTF-8", function()
    local quote, ctrl, invalid, valid_multi, nul = false, false, false, false, false
    local g = gen.string()
    for run = 1, 300 do
      local s = fuzz.sample(g, { seed = 9, run = run, size = 30 })
      if s:find('"', 1, true) or s:find("\\", 1, true) then quote = true end
      if s:find("[\1-\31]") then ctrl = true end
      if s:find("\0", 1, true) then nul = true end
      if not utf8.len(s) then invalid = true elseif s:find("[\128-\255]") then valid_multi = true end
    end
    assert.is_true(quote and ctrl and invalid and valid_multi and nul)
  end)

  it("long strings reach the requested length", function()
    local longest = 0
    for run = 1, 200 do
      local s = fuzz.sample(gen.string{ min = 1, max = 4, long = 10000 }, { seed = 2, run = run })
      longest = math.max(longest, #s)
    end
    assert.is_true(longest > 1000)
  end)

  it("floats include NaN, infinities and negative zero", function()
    local nan, inf, negzero = false, false, false
    for run = 1, 400 do
      local v = fuzz.sample(gen.float(), { seed = 4, run = run })
      assert.equal("float", math.type(v))
      if v ~= v then nan = true end
      if v == math.huge or v == -math.huge then inf = true end
      if v == 0 and 1 / v < 0 then negzero = true end
    end
    assert.is_true(nan and inf and negzero)
  end)

  it("one_of, frequency, constant, map, bind and filter compose", function()
    local g = gen.frequency{ { 1, gen.constant("x") }, { 3, gen.integer(0, 3):map(function(n) return n * 2 end) } }
    local kinds = {}
    for run = 1, 100 do
      local v = fuzz.sample(g, { seed = 1, run = run })
      kinds[type(v)] = true
      if type(v) == "number" then assert.equal(0, v % 2) end
    end
    assert.is_true(kinds.string and kinds.number)
    local b = gen.integer(1, 5):bind(function(n) return gen.list(gen.constant(n), { min = n, max = n }) end)
    fuzz.assert_property(b, function(l) return #l == l[1] end, opts{ seed = 2, runs = 50 })
    local odd = gen.integer(0, 100):filter(function(n) return n % 2 == 1 end)
    fuzz.assert_property(odd, function(n) return n % 2 == 1 end, opts{ seed = 2, runs = 50 })
    local oo = gen.one_of{ gen.boolean(), "lit" }
    fuzz.assert_property(oo, function(v) return v == "lit" or type(v) == "boolean" end, opts{ seed = 2, runs = 50 })
  end)

  it("tables and records", function()
    fuzz.assert_property(gen.record{ a = gen.integer(0, 1), t = gen.table(gen.string{ min = 1 }, gen.boolean()) },
      function(r)
        if r.a ~= 0 and r.a ~= 1 then return false end
        for k, v in pairs(r.t) do
          if type(k) ~= "string" or #k == 0 or type(v) ~= "boolean" then return false end
        end
        return true
      end, opts{ seed = 6, runs = 100 })
  end)
end)

describe("fuzz.check", function()
  it("passes a true property and reports stats", function()
    local ok, stats = fuzz.check(gen.integer(0, 10), function(n) return n <= 10 end, opts{ seed = 1, runs = 50 })
    assert.is_true(ok)
    assert.equal(50, stats.runs)
    assert.equal(1, stats.seed)
  end)

  it("prints the seed first, even without one given", function()
    local lines = {}
    fuzz.check(gen.boolean(), function() return true end, { runs = 3, print = function(l) lines[#lines + 1] = l end })
    assert.truthy(lines[1]:match("^fuzz: seed %d+$"))
  end)

  it("shrinks a list to the minimal counterexample", function()
    local ok, f = fuzz.check(gen.list(gen.integer(0, 1000)), function(l)
      for _, x in ipairs(l) do if x >= 10 then return false end end
      return true
    end, opts{ seed = 21 })
    assert.is_false(ok)
    assert.same({ 10 }, f.value)
    assert.is_true(f.shrinks > 0)
    assert.equal(21, f.seed)
    assert.truthy(#f.original >= 1)
  end)

  it("shrinks strings and treats raised errors as failures", function()
    local ok, f = fuzz.check(gen.string(), function(s)
      if s:find('"', 1, true) then error("quote found") end
    end, opts{ seed = 8 })
    assert.is_false(ok)
    assert.equal('"', f.value)
    assert.truthy(f.error:find("quote found", 1, true))
  end)

  it("shrinks integers towards zero across signs", function()
    local _, f = fuzz.check(gen.integer(-1000, 1000), function(n) return n > -50 end, opts{ seed = 4 })
    assert.equal(-50, f.value)
  end)

  it("shrinks through filters and binary-searches numbers", function()
    local big = gen.integer(0, 1000):filter(function(n) return n > 500 end)
    local _, f = fuzz.check(gen.list(big), function(l) return #l < 3 end, opts{ seed = 1 })
    assert.same({ 501, 501, 501 }, f.value)
    local _, f2 = fuzz.check(gen.integer(0, 1 << 40), function(n) return n < 123456789 end, opts{ seed = 2 })
    assert.equal(123456789, f2.value)
  end)

  it("replays a failure from its seed and run number", function()
    local prop = function(l) return #l < 5 end
    local _, f1 = fuzz.check(gen.list(gen.integer(0, 9)), prop, opts{ seed = 77 })
    local _, f2 = fuzz.check(gen.list(gen.integer(0, 9)), prop, opts{ seed = 77, run = f1.run })
    assert.same(f1.original, f2.original)
    assert.same(f1.value, f2.value)
    assert.equal(f1.run, f2.run)
  end)

  it("assert_property raises with the seed and the shrunk case", function()
    local ok, err = pcall(fuzz.assert_property, gen.integer(0, 100), function(n) return n < 7 end,
      opts{ seed = 99, name = "small" })
    assert.is_false(ok)
    assert.truthy(err:find("seed 99", 1, true))
    assert.truthy(err:find("counterexample: 7", 1, true))
    assert.truthy(err:find("'small'", 1, true))
  end)

  it("checks its arguments", function()
    assert.has_error(function() fuzz.check(42, function() end) end,
      "bad argument #1 to 'check' (generator expected)")
    assert.has_error(function() fuzz.check(gen.boolean(), nil) end,
      "bad argument #2 to 'check' (function expected, got nil)")
  end)
end)

describe("span programs", function()
  it("planted bug: a tree deeper than 3 shrinks to exactly four nested starts", function()
    local prop = function(ops) return program.depth(ops) <= 3 end
    local ok, f = fuzz.check(gen.program(), prop, opts{ seed = 20261125 })
    assert.is_false(ok)
    assert.is_true(#f.original > 4) -- the run found a bigger program first
    assert.equal(4, program.depth(f.value))
    assert.equal(4, #f.value) -- exactly depth 4, no extra operations
    for _, op in ipairs(f.value) do
      assert.equal("start", op.op)
      assert.equal("a", op.name)
      assert.same({}, op.attrs)
    end
    -- the same seed gives the same counterexample
    local ok2, f2 = fuzz.check(gen.program(), prop, opts{ seed = 20261125 })
    assert.is_false(ok2)
    assert.same(f.value, f2.value)
    assert.same(f.original, f2.original)
    assert.equal(f.run, f2.run)
    assert.equal(f.shrinks, f2.shrinks)
  end)

  it("planted bug found from many seeds, always minimal", function()
    for seed = 1, 10 do
      local ok, f = fuzz.check(gen.program(), function(ops) return program.depth(ops) <= 3 end,
        opts{ seed = seed })
      assert.is_false(ok)
      assert.equal(4, #f.value)
      assert.equal(4, program.depth(f.value))
    end
  end)

  it("generates only valid operations, using every kind", function()
    local seen = {}
    fuzz.assert_property(gen.program{ kinds = program.KINDS }, function(ops)
      local state = program.new_state()
      for i, op in ipairs(ops) do
        if not program.valid(state, op) then return false, "invalid op " .. i end
        seen[op.op] = true
        program.step(state, op)
      end
      return true
    end, opts{ seed = 31, runs = 200, max_size = 60 })
    for _, kind in ipairs(program.KINDS) do assert.is_true(seen[kind], kind) end
  end)

  it("models call/return/raise: the call's span ends, spans opened inside stay current", function()
    local spans = program.model{
      { op = "call", name = "c" },
      { op = "start", name = "inner", attrs = {} },
      { op = "return" },
      { op = "start", name = "after", attrs = {} },
      { op = "call", name = "d" },
      { op = "raise", message = "boom" },
      { op = "call", name = "e" }, -- still inside at the end: returns normally
    }
    assert.equal(5, #spans)
    assert.equal("ok", spans[1].status)
    assert.equal("abandoned", spans[2].status)
    assert.equal(2, spans[3].parent) -- "inner" stayed current after "c" returned
    assert.equal("abandoned", spans[3].status)
    assert.equal("error", spans[4].status)
    assert.equal("boom", spans[4].error)
    assert.equal(3, spans[5].parent)
    assert.equal("ok", spans[5].status)
  end)

  it("the interpreter drives a tracer from the right coroutines with the model's parents", function()
    fuzz.assert_property(gen.program(), function(ops)
      local log, lanes = {}, {}
      local fake = {}
      local function lane()
        local co = coroutine.running()
        lanes[co] = lanes[co] or (#log + 1) -- any stable id per coroutine
        return lanes[co]
      end
      function fake:start(name, attrs, o)
        local span = { name = name, parent = o.parent, root = o.root, lane = lane(), status = "open" }
        function span.finish(s, status, msg)
          if s.status ~= "open" then error("finished twice") end
          s.status, s.error = status or "ok", msg
        end
        function span.event(s, n) s.events = (s.events or 0) + 1 end
        function span.set(s, k, v) s.last = { k, v } end
        log[#log + 1] = span
        return span
      end
      local handles = program.run(ops, fake)
      local spans = program.model(ops)
      if #handles ~= #spans then return false, "span count" end
      local lane_of_co = {}
      for i, s in ipairs(spans) do
        local h = handles[i]
        if h ~= log[i] then return false, "order" end
        if h.name ~= s.name then return false, "name" end
        if (s.parent and handles[s.parent]) ~= h.parent then return false, "parent of " .. i end
        if (s.parent == nil) ~= (h.root == true) then return false, "root" end
        local expect = s.status == "abandoned" and "open" or s.status
        if h.status ~= expect then return false, "status of " .. i end
        if lane_of_co[s.co] == nil then lane_of_co[s.co] = h.lane end
        if lane_of_co[s.co] ~= h.lane then return false, "coroutine of " .. i end
      end
      -- different model coroutines ran on different Lua coroutines
      local seen = {}
      for _, l in pairs(lane_of_co) do
        if seen[l] then return false, "shared coroutine" end
        seen[l] = true
      end
      return true
    end, opts{ seed = 12, runs = 200, max_size = 60 })
  end)

  it("shows values deterministically", function()
    assert.equal('{ 1, "a\\xff", b = true, c = { x = 0/0 } }', fuzz.show({ 1, "a\xff", c = { x = 0 / 0 }, b = true }))
  end)
end)
