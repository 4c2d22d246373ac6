-- context_spec: the current span per coroutine, inheritance into child
-- coroutines, yields inside spans, out-of-order finishing.
local spanline = require("spanline")
local h = require("tracer_helpers")

local function parent_of(t, name)
  local st = assert(h.start_of(t, name), "no span " .. name)
  return st.parent
end

local function id_of(t, name)
  return assert(h.start_of(t, name), "no span " .. name).id
end

describe("context", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("makes a started span current until it finishes", function()
    assert.is_nil(spanline.current())
    local a = t:start("a")
    assert.are.equal(a, spanline.current())
    assert.are.equal(a, t:current())
    local b = t:start("b")
    assert.are.equal(b, spanline.current())
    b:finish()
    assert.are.equal(a, spanline.current())
    a:finish()
    assert.is_nil(spanline.current())
  end)

  it("finishing a span that is not on top removes it from the middle", function()
    local a = t:start("a")
    local b = t:start("b")
    local c = t:start("c")
    b:finish()
    assert.are.equal(c, spanline.current())
    local d = t:start("d")          -- child of c, the top
    d:finish()
    c:finish()
    assert.are.equal(a, spanline.current())   -- b is gone: back to a
    local e = t:start("e")
    e:finish()
    a:finish()
    assert.is_nil(spanline.current())
    assert.are.equal(id_of(t, "c"), parent_of(t, "d"))
    assert.are.equal(id_of(t, "b"), parent_of(t, "c"))
    assert.are.equal(id_of(t, "a"), parent_of(t, "e"))
  end)

  it("does not make a span current with current = false", function()
    local a = t:start("a")
    local detached = t:start("detached", nil, { current = false })
    assert.are.equal(a, spanline.current())
    local b = t:start("b")
    b:finish(); detached:finish(); a:finish()
    assert.are.equal(id_of(t, "a"), parent_of(t, "detached"))
    assert.are.equal(id_of(t, "a"), parent_of(t, "b"))
  end)

  it("keeps a separate stack per coroutine", function()
    local main = t:start("main")
    local co = coroutine.create(function()
      assert.is_nil(spanline.current())      -- plain coroutine: no inheritance
      local s = t:start("in co")
      assert.are.equal(s, spanline.current())
      coroutine.yield()
      assert.are.equal(s, spanline.current())
      s:finish()
      assert.is_nil(spanline.current())
    end)
    assert(coroutine.resume(co))
    assert.are.equal(main, spanline.current())
    assert(coroutine.resume(co))
    assert.are.equal("dead", coroutine.status(co))
    main:finish()
    assert.is_nil(parent_of(t, "in co"))
  end)

  it("gives each coroutine its own lane; main is lane 1", function()
    assert.are.equal(1, require("spanline.context").lane())
    local lanes = {}
    local cos = {}
    for i = 1, 3 do
      cos[i] = coroutine.create(function()
        local s = t:start("lane" .. i)
        lanes[i] = s:lane()
        s:finish()
      end)
    end
    for i = 1, 3 do assert(coroutine.resume(cos[i])) end
    local m = t:start("main lane")
    assert.are.equal(1, m:lane())
    m:finish()
    assert.are_not.equal(lanes[1], lanes[2])
    assert.are_not.equal(lanes[2], lanes[3])
    for i = 1, 3 do
      assert.are_not.equal(1, lanes[i])
      assert.are.equal(lanes[i], h.start_of(t, "lane" .. i).lane)
    end
  end)

  it("spanline.coroutine.create starts the coroutine under the creator's span", function()
    local parent = t:start("parent")
    local co = spanline.coroutine.create(function()
      assert.are.equal(parent, spanline.current())
      local c1 = t:start("c1")
      coroutine.yield()
      local c2 = t:start("c2")     -- child of c1, still current here
      c2:finish()
      c1:finish()
      local c3 = t:start("c3")     -- back to the inherited parent
      c3:finish()
    end)
    assert(coroutine.resume(co))
    local other = t:start("other")   -- resumed from under another span
    assert(coroutine.resume(co))
    other:finish()
    parent:finish()
    assert.are.equal(id_of(t, "parent"), parent_of(t, "c1"))
    assert.are.equal(id_of(t, "c1"), parent_of(t, "c2"))
    assert.are.equal(id_of(t, "parent"), parent_of(t, "c3"))
    assert.are.equal(id_of(t, "parent"), parent_of(t, "other"))
  end)

  it("keeps the inherited parent after it finished (by value)", function()
    local parent = t:start("parent")
    local co = spanline.coroutine.wrap(function()
      coroutine.yield()
      t:start("late child"):finish()
    end)
    co()
    parent:finish()
    co()
    assert.are.equal(id_of(t, "parent"), parent_of(t, "late child"))
  end)

  it("coroutines created in coroutines inherit transitively", function()
    local root = t:start("root")
    local inner_done = false
    local outer = spanline.coroutine.wrap(function()
      local mid = t:start("mid")
      local inner = spanline.coroutine.wrap(function()
        t:start("leaf"):finish()
        inner_done = true
      end)
      mid:finish()
      inner()
      local co2 = spanline.coroutine.wrap(function() t:start("leaf2"):finish() end)
      co2()
    end)
    outer()
    root:finish()
    assert.is_true(inner_done)
    assert.are.equal(id_of(t, "mid"), parent_of(t, "leaf"))
    assert.are.equal(id_of(t, "root"), parent_of(t, "leaf2"))
    assert.are.equal(id_of(t, "root"), parent_of(t, "mid"))
  end)

  it("interleaves coroutines that yield inside spans", function()
    local root = t:start("root")
    local cos = {}
    for i = 1, 3 do
      cos[i] = spanline.coroutine.create(function()
        local a = t:start("w" .. i)
        coroutine.yield()
        local b = t:start("w" .. i .. ".step")
        coroutine.yield()
        b:finish()
        local c = t:start("w" .. i .. ".after")
        coroutine.yield()
        c:finish()
        a:finish()
      end)
    end
    root:finish()   -- the workers outlive the span they were created under
    local noise = t:start("noise")
    for _ = 1, 4 do
      for i = 3, 1, -1 do coroutine.resume(cos[i]) end
      assert.are.equal(noise, spanline.current())
    end
    noise:finish()
    for i = 1, 3 do
      assert.are.equal("dead", coroutine.status(cos[i]))
      assert.are.equal(id_of(t, "root"), parent_of(t, "w" .. i))
      assert.are.equal(id_of(t, "w" .. i), parent_of(t, "w" .. i .. ".step"))
      assert.are.equal(id_of(t, "w" .. i), parent_of(t, "w" .. i .. ".after"))
      assert.are.equal("ok", h.end_of(t, id_of(t, "w" .. i)).status)
    end
    assert.is_nil(parent_of(t, "noise"))
  end)

  it("nests traced calls across yields", function()
    local inner = t:traced("inner", function(x)
      coroutine.yield("in inner")
      return x * 2
    end)
    local outer = t:traced("outer", function(x)
      local y = inner(x)
      coroutine.yield("in outer")
      return inner(y) + 1
    end)
    local co = spanline.coroutine.wrap(function(x) return "done", outer(x) end)
    local seen = {}
    local r = { co(5) }
    while r[1] ~= "done" do
      seen[#seen + 1] = r[1]
      local s = t:start("between")   -- the main coroutine's own span
      s:finish()
      r = { co() }
    end
    assert.are.same({ "in inner", "in outer", "in inner" }, seen)
    assert.are.equal(21, r[2])
    local outer_id
    for _, st in ipairs(h.of(t, "start")) do
      if st.name == "outer" then outer_id = st.id end
    end
    local inners = 0
    for _, st in ipairs(h.of(t, "start")) do
      if st.name == "inner" then
        inners = inners + 1
        assert.are.equal(outer_id, st.parent)
        assert.are.equal("ok", h.end_of(t, st.id).status)
      elseif st.name == "between" then
        assert.is_nil(st.parent)
      end
    end
    assert.are.equal(2, inners)
    assert.is_nil(spanline.current())
  end)

  it("an error inside a coroutine ends traced spans and leaves other stacks alone", function()
    local root = t:start("root")
    local failing = t:traced("failing", function()
      coroutine.yield()
      error("broken", 0)
    end)
    local co = spanline.coroutine.create(function() failing() end)
    assert(coroutine.resume(co))
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.are.equal("broken", err)
    assert.are.equal(root, spanline.current())
    root:finish()
    local st = h.start_of(t, "failing")
    assert.are.equal(id_of(t, "root"), st.parent)
    local en = h.end_of(t, st.id)
    assert.are.equal("error", en.status)
    assert.are.equal("broken", en.error)
  end)

  it("wrap re-raises a coroutine's error with the original value", function()
    local obj = {}
    local f = spanline.coroutine.wrap(function() error(obj) end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.are.equal(obj, err)
    local g = spanline.coroutine.wrap(function() error("plain") end)
    ok, err = pcall(g)
    assert.matches("plain$", err)
  end)

  it("a span left open in a dead coroutine is current nowhere else", function()
    local co = coroutine.create(function() t:start("left open") end)
    assert(coroutine.resume(co))
    assert.is_nil(spanline.current())
    local s = t:start("main")
    s:finish()
    assert.is_nil(parent_of(t, "main"))
  end)

  it("patch_coroutines makes coroutine.create/wrap inherit; unpatch restores them", function()
    local create, wrap = coroutine.create, coroutine.wrap
    assert.is_true(spanline.patch_coroutines())
    assert.is_false(spanline.patch_coroutines())
    local ok, err = pcall(function()
      local p = t:start("p")
      local co = coroutine.create(function() t:start("patched child"):finish() end)
      assert(coroutine.resume(co))
      coroutine.wrap(function() t:start("patched wrap"):finish() end)()
      p:finish()
    end)
    assert.is_true(spanline.unpatch_coroutines())
    assert.is_false(spanline.unpatch_coroutines())
    assert(ok, err)
    assert.are.equal(create, coroutine.create)
    assert.are.equal(wrap, coroutine.wrap)
    assert.are.equal(id_of(t, "p"), parent_of(t, "patched child"))
    assert.are.equal(id_of(t, "p"), parent_of(t, "patched wrap"))
    local p2 = t:start("p2")
    local co = coroutine.create(function() t:start("unpatched"):finish() end)
    assert(coroutine.resume(co))
    p2:finish()
    assert.is_nil(parent_of(t, "unpatched"))
  end)

  it("keeps a context per tracer: spans of another tracer are never adopted", function()
    local t2 = h.mem()
    local a = t:start("a")
    local b = t2:start("b")
    assert.are.equal(b, spanline.current())   -- the innermost, whichever tracer
    assert.are.equal(a, t:current())
    assert.are.equal(b, t2:current())
    local c = t:start("c")                    -- t's current span is a, not b
    assert.are.equal(c, spanline.current())
    local d = t2:start("d")
    assert.are.equal(d, spanline.current())
    c:finish()
    assert.are.equal(d, spanline.current())
    assert.are.equal(a, t:current())
    d:finish()
    assert.are.equal(b, spanline.current())
    b:finish()
    assert.are.equal(a, spanline.current())
    assert.is_nil(t2:current())
    a:finish()
    assert.is_nil(spanline.current())
    assert.are.equal(a:id(), c:parent_id())
    assert.is_nil(b:parent_id())
    assert.are.equal(b:id(), d:parent_id())
    assert.are_not.equal(a:trace_id(), b:trace_id())
    assert.are.equal(id_of(t, "a"), parent_of(t, "c"))
    assert.is_nil(parent_of(t2, "b"))
    assert.are.equal(id_of(t2, "b"), parent_of(t2, "d"))
    t2:close()
  end)

  it("crosses tracers only through an explicit parent", function()
    local t2 = h.mem()
    local a = t:start("a")
    local x = t2:start("x", nil, { parent = a })
    local y = t2:start("y")                   -- x is t2's current span
    y:finish(); x:finish(); a:finish()
    assert.are.equal(a:id(), x:parent_id())
    assert.are.equal(a:trace_id(), x:trace_id())
    assert.are.equal(x:id(), y:parent_id())
    t2:close()
  end)

  it("traced and with calls of two tracers nest by tracer", function()
    local t2 = h.mem()
    local inner = t:traced("inner", function() return t2:with("t2 inner", function() return 7 end) end)
    local got = t2:with("t2 outer", function()
      return t:with("outer", function() return inner() end)
    end)
    assert.are.equal(7, got)
    assert.are.equal(id_of(t, "outer"), parent_of(t, "inner"))
    assert.is_nil(parent_of(t, "outer"))
    assert.are.equal(id_of(t2, "t2 outer"), parent_of(t2, "t2 inner"))
    assert.is_nil(spanline.current())
    t2:close()
  end)

  it("coroutines inherit each tracer's span and keep them across yields", function()
    local t2 = h.mem()
    local a = t:start("a")
    local b = t2:start("b")
    local co = spanline.coroutine.create(function()
      assert.are.equal(b, spanline.current())   -- b was made current last
      assert.are.equal(a, t:current())
      assert.are.equal(b, t2:current())
      local c1 = t:start("c1")
      coroutine.yield()
      local c2 = t2:start("c2")
      coroutine.yield()
      assert.are.equal(c2, spanline.current())
      assert.are.equal(c1, t:current())
      c2:finish()
      c1:finish()
      t:start("c3"):finish()
      t2:start("c4"):finish()
    end)
    assert(coroutine.resume(co))
    local m1 = t2:start("m1")                   -- main's own spans in between
    assert(coroutine.resume(co))
    local m2 = t:start("m2")
    assert(coroutine.resume(co))
    assert.are.equal("dead", coroutine.status(co))
    assert.are.equal(m2, spanline.current())
    m2:finish(); m1:finish(); b:finish(); a:finish()
    assert.are.equal(id_of(t, "a"), parent_of(t, "c1"))
    assert.are.equal(id_of(t2, "b"), parent_of(t2, "c2"))
    assert.are.equal(id_of(t, "a"), parent_of(t, "c3"))
    assert.are.equal(id_of(t2, "b"), parent_of(t2, "c4"))
    assert.are.equal(id_of(t2, "b"), parent_of(t2, "m1"))
    assert.are.equal(id_of(t, "a"), parent_of(t, "m2"))
    t2:close()
  end)

  it("a closed tracer leaves the other tracer's context alone", function()
    local t2 = h.mem()
    local a = t:start("a")
    local co = spanline.coroutine.create(function()
      local inner = t2:start("inner")
      coroutine.yield()
      assert.is_nil(t2:current())              -- closed: forgotten, inner abandoned
      assert.is_false(inner:is_open())
      t:start("after"):finish()
    end)
    t2:start("open in main")
    assert(coroutine.resume(co))
    t2:close()
    assert.are.equal(a, spanline.current())
    assert(coroutine.resume(co))
    a:finish()
    assert.are.equal(id_of(t, "a"), parent_of(t, "after"))
  end)

  it("a program's own tracer, instrumented by another tracer, keeps its own parents", function()
    local run = h.mem()                        -- as `spanline run --instrument worker` would
    local worker = {}
    function worker.step(n)
      local s = t:start("own.step")
      if n > 0 then worker.step(n - 1) end
      s:finish()
    end
    local undo = run:instrument(worker, { prefix = "worker." })
    worker.step(1)
    undo()
    local steps = {}
    for _, r in ipairs(h.of(t, "start")) do steps[#steps + 1] = r end
    assert.are.equal(2, #steps)
    assert.is_nil(steps[1].parent)             -- not the run tracer's span: no orphan
    assert.are.equal(steps[1].id, steps[2].parent)
    local calls = h.of(run, "start")
    assert.are.equal(2, #calls)
    assert.are.equal(calls[1].id, calls[2].parent)
    run:close()
  end)

  it("spans of a hidden tracer (an observer's) are never spanline.current()", function()
    local obs = h.mem{ hidden = true }
    local o = obs:start("observer")
    assert.is_nil(spanline.current())
    assert.are.equal(o, obs:current())
    local a = t:start("a")
    assert.are.equal(a, spanline.current())
    local o2 = obs:start("observer 2")
    assert.are.equal(a, spanline.current())   -- still the program's own, though o2 is newer
    o2:finish(); a:finish(); o:finish()
    assert.is_nil(parent_of(t, "a"))
    assert.are.equal(id_of(obs, "observer"), parent_of(obs, "observer 2"))
    obs:close()
  end)

  it("hook-mode instrumentation: a plain coroutine inherits only the instrumenting tracer's span", function()
    local run = h.mem{ hidden = true }
    local m = {}
    function m.inner() return 1 end
    function m.outer()
      local co = coroutine.create(function()
        m.inner()
        t:start("own.in.co"):finish()
      end)
      assert(coroutine.resume(co))
    end
    local undo = run:instrument(m, { prefix = "m." })
    local own = t:start("own.outer")
    m.outer()
    own:finish()
    undo()
    assert.are.equal(id_of(run, "m.outer"), parent_of(run, "m.inner"))
    assert.is_nil(parent_of(t, "own.in.co"))   -- as without instrumentation: no inheritance
    run:close()
  end)

  it("matches a model of the context rules with two tracers", function()
    math.randomseed(7)
    local ts = { h.mem(), h.mem() }
    local spans, expected, open = {}, {}, {}
    local stacks = { [0] = { {}, {} } }      -- stacks[worker][tracer]
    local inherit = {}
    local cos = {}
    local function top(i, k)
      local st = stacks[i][k]
      if #st > 0 then return st[#st] end
      return inherit[i] and inherit[i][k]
    end
    local function worker()
      local cmd, k, name = coroutine.yield()
      while cmd ~= "stop" do
        if cmd == "start" then spans[name] = ts[k]:start(name) else spans[name]:finish() end
        cmd, k, name = coroutine.yield()
      end
    end
    local counter = 0
    local function start(i, k)
      counter = counter + 1
      local name = "s" .. counter
      expected[name] = { k = k, parent = top(i, k) or false }
      local st = stacks[i][k]
      st[#st + 1] = name
      open[name] = { i = i, k = k }
      if i == 0 then spans[name] = ts[k]:start(name) else assert(coroutine.resume(cos[i], "start", k, name)) end
    end
    start(0, 1); start(0, 2); start(0, 1)
    for i = 1, 4 do
      stacks[i] = { {}, {} }
      inherit[i] = { top(0, 1), top(0, 2) }
      cos[i] = spanline.coroutine.create(worker)
      assert(coroutine.resume(cos[i]))
      start(0, i % 2 + 1)
    end
    for _ = 1, 400 do
      local i, k = math.random(0, 4), math.random(1, 2)
      local names = {}
      for name in pairs(open) do names[#names + 1] = name end
      table.sort(names)
      if #names > 0 and math.random() < 0.45 then
        local name = names[math.random(#names)]
        local w = open[name]
        local st = stacks[w.i][w.k]
        for j = #st, 1, -1 do if st[j] == name then table.remove(st, j) break end end
        open[name] = nil
        if i == 0 then spans[name]:finish() else assert(coroutine.resume(cos[i], "finish", nil, name)) end
      else
        start(i, k)
      end
      for kk = 1, 2 do
        local want = top(0, kk)
        assert.are.equal(want and spans[want] or nil, ts[kk]:current())
      end
    end
    for i = 1, 4 do assert(coroutine.resume(cos[i], "stop")) end
    for k = 1, 2 do
      local starts = {}
      for _, r in ipairs(h.of(ts[k], "start")) do starts[r.name] = r end
      for name, want in pairs(expected) do
        if want.k == k then
          if want.parent then
            assert.are.equal(spans[want.parent]:id(), starts[name].parent, name .. " under " .. want.parent)
          else
            assert.is_nil(starts[name].parent, name .. " should be a root")
          end
        else
          assert.is_nil(starts[name], name .. " recorded by the other tracer")
        end
      end
      ts[k]:close()
    end
  end)

  it("survives many short-lived coroutines (contexts are collected)", function()
    local root = t:start("root")
    for i = 1, 2000 do
      local co = spanline.coroutine.create(function()
        local s = t:start("x")
        coroutine.yield()
        s:finish()
      end)
      coroutine.resume(co)
      coroutine.resume(co)
      if i % 500 == 0 then collectgarbage() end
    end
    assert.are.equal(root, spanline.current())
    root:finish()
    local n = 0
    for _, st in ipairs(h.of(t, "start")) do
      if st.name == "x" then
        n = n + 1
        assert.are.equal(root:id(), st.parent)
      end
    end
    assert.are.equal(2000, n)
  end)

  -- A model of the rules: each coroutine has a stack; start's parent is the
  -- top of the running coroutine's stack, else the span current in the
  -- creator when the coroutine was made (spanline.coroutine), else none;
  -- finish removes the span from wherever it is. Random programs over five
  -- coroutines (commands sent through resume) must match the model.
  for _, seed in ipairs({ 1, 2, 3, 42, 1234 }) do
    it("matches a model of the context rules on random interleavings (seed " .. seed .. ")", function()
      math.randomseed(seed)
      local tr = h.mem()
      local stacks, inherit, cos, spans, expected = {}, {}, {}, {}, {}
      local open = {}   -- name -> worker index holding it on its stack
      local counter = 0
      local function top(i)
        local st = stacks[i]
        if #st > 0 then return st[#st] end
        return inherit[i]
      end
      local function worker()
        local cmd, arg = coroutine.yield()
        while cmd ~= "stop" do
          if cmd == "start" then
            spans[arg] = tr:start(arg)
          elseif cmd == "finish" then
            spans[arg]:finish()
          end
          cmd, arg = coroutine.yield()
        end
      end
      -- worker 1 is the main coroutine (index 0 in the model)
      stacks[0] = {}
      local main_span = tr:start("m0")
      spans.m0 = main_span
      stacks[0][1] = "m0"
      expected.m0 = false
      open.m0 = 0
      for i = 1, 5 do
        stacks[i] = {}
        if i % 2 == 1 then
          inherit[i] = top(0)                  -- created under main's current span
          cos[i] = spanline.coroutine.create(worker)
        else
          cos[i] = coroutine.create(worker)    -- plain: no inheritance
        end
        assert(coroutine.resume(cos[i]))       -- runs to the first yield
      end
      for _ = 1, 400 do
        local i = math.random(0, 5)
        local names = {}
        for name in pairs(open) do names[#names + 1] = name end
        table.sort(names)
        if #names > 0 and math.random() < 0.45 then
          local name = names[math.random(#names)]
          local w = open[name]
          local st = stacks[w]
          for k = #st, 1, -1 do if st[k] == name then table.remove(st, k) break end end
          open[name] = nil
          if i == 0 then spans[name]:finish() else assert(coroutine.resume(cos[i], "finish", name)) end
        else
          counter = counter + 1
          local name = "s" .. counter
          expected[name] = top(i) or false
          local st = stacks[i]
          st[#st + 1] = name
          open[name] = i
          if i == 0 then spans[name] = tr:start(name) else assert(coroutine.resume(cos[i], "start", name)) end
        end
        local cur = spanline.current()
        local want = top(0)
        assert.are.equal(want and spans[want] or nil, cur)
      end
      for i = 1, 5 do assert(coroutine.resume(cos[i], "stop")) end
      local starts = {}
      for _, r in ipairs(h.of(tr, "start")) do starts[r.name] = r end
      for name, parent in pairs(expected) do
        local st = starts[name]
        if parent then
          assert.are.equal(spans[parent]:id(), st.parent, name .. " should be a child of " .. parent)
        else
          assert.is_nil(st.parent, name .. " should be a root")
        end
      end
      tr:close()
    end)
  end
end)
