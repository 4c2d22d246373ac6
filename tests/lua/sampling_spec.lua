-- sampling_spec: spanline.tracer{sample = p} decides per trace at the root;
-- unsampled traces get the shared no-op span and cost no records.
local spanline = require("spanline")
local h = require("tracer_helpers")

describe("sampling", function()
  it("records about p of the traces (10^5 roots, 5 sigma bounds)", function()
    local n, p = 100000, 0.1
    local t = h.mem{ sample = p, seed = 12345, meta = false }
    local recorded = 0
    for _ = 1, n do
      local s = t:start("root")
      if s:is_recording() then recorded = recorded + 1 end
      s:finish()
      if _ % 10000 == 0 then t:clear() end
    end
    local sigma = math.sqrt(n * p * (1 - p))
    assert.is_true(math.abs(recorded - n * p) < 5 * sigma,
      "recorded " .. recorded .. " of " .. n)
    local st = t:stats()
    assert.are.equal(recorded, st.spans_started)
    assert.are.equal(n - recorded, st.unsampled)
    t:close()
  end)

  it("records everything with sample = 1 and nothing with sample = 0", function()
    local all, none = h.mem{ sample = 1 }, h.mem{ sample = 0 }
    for _ = 1, 100 do all:start("a"):finish(); none:start("n"):finish() end
    assert.are.equal(100, #h.of(all, "start"))
    assert.are.equal(0, #h.of(none, "start"))
    all:close(); none:close()
  end)

  it("is reproducible with a seed", function()
    local function decisions(seed)
      local t = h.mem{ sample = 0.5, seed = seed }
      local d = {}
      for i = 1, 64 do
        local s = t:start("r")
        d[i] = s:is_recording() and "1" or "0"
        s:finish()
      end
      t:close()
      return table.concat(d, ",")
    end
    assert.are.equal(decisions(7), decisions(7))
    assert.are_not.equal(decisions(7), decisions(8))
  end)

  it("children of an unsampled root inherit the decision via context", function()
    local t = h.mem{ sample = 0 }
    local root = t:start("root")
    assert.is_false(root:is_recording())
    assert.are.equal(root, spanline.current())
    local child = t:start("child")
    assert.are.equal(spanline.noop, child)
    local co = spanline.coroutine.wrap(function()
      assert.are.equal(spanline.noop, spanline.current())
      return t:start("in coroutine"):is_recording()
    end)
    assert.is_false(co())
    local traced_span
    t:traced("traced", function() traced_span = spanline.current() end)()
    assert.is_false(traced_span:is_recording())   -- the unsampled root stays current
    child:finish()
    root:finish()
    assert.is_nil(spanline.current())
    assert.are.equal(0, #h.of(t, "start"))
    t:close()
  end)

  it("an unsampled span finished in another coroutine leaves no stale context", function()
    local t = h.mem{ sample = 0 }
    local root = t:start("request")
    assert.are.equal(root, spanline.current())
    local co = coroutine.create(function(span)
      local inner = t:start("inner")   -- balanced inside the coroutine
      inner:finish()
      span:finish()
    end)
    assert(coroutine.resume(co, root))
    assert.is_nil(spanline.current())
    local r = t:start("next", nil, { parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
    assert.is_true(r:is_recording())
    local child = t:start("child of next")
    assert.is_true(child:is_recording())
    child:finish()
    r:finish()
    t:close()
  end)

  it("children of a sampled root are recorded", function()
    local t = h.mem{ sample = 0.5, seed = 3 }
    local recorded_roots = 0
    for _ = 1, 50 do
      local root = t:start("root")
      local child = t:start("child")
      assert.are.equal(root:is_recording(), child:is_recording())
      if root:is_recording() then
        recorded_roots = recorded_roots + 1
        assert.are.equal(root:id(), child:parent_id())
      end
      child:finish()
      root:finish()
    end
    assert.is_true(recorded_roots > 0 and recorded_roots < 50)
    t:close()
  end)

  it("a recorded root started explicitly inside an unsampled trace keeps its own stack", function()
    local t = h.mem{ sample = 0 }
    local u = t:start("unsampled")
    local tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    local r = t:start("continued", nil, { parent = tp })
    assert.is_true(r:is_recording())
    assert.are.equal(r, spanline.current())
    r:finish()
    assert.are.equal(u, spanline.current())
    u:finish()
    assert.is_nil(spanline.current())
    t:close()
  end)

  it("follows the sampled flag of a traceparent parent", function()
    local t = h.mem{ sample = 1e-9 }
    local yes = t:start("yes", nil, { parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
    local no = t:start("no", nil, { parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" })
    assert.is_true(yes:is_recording())
    assert.is_false(no:is_recording())
    no:finish()
    yes:finish()
    t:close()
  end)

  it("an unsampled detached span (current = false) leaves the context alone", function()
    local t = h.mem{ sample = 0 }
    local d = t:start("detached", nil, { current = false })
    assert.is_false(d:is_recording())
    assert.is_nil(spanline.current())
    local u = t:start("unsampled current")
    d:finish()                      -- must not end u's unsampled scope
    assert.are.equal(u, spanline.current())
    u:finish()
    assert.is_nil(spanline.current())
    t:close()
  end)

  it("the no-op span supports every span method", function()
    local s = spanline.noop
    assert.are.equal(s, s:set("k", 1))
    assert.are.equal(s, s:set{ k = 1 })
    assert.are.equal(s, s:event("e", { a = 1 }))
    assert.is_nil(s:id())
    assert.is_nil(s:trace_id())
    assert.is_nil(s:parent_id())
    assert.is_nil(s:traceparent())
    assert.is_nil(s:name())
    assert.is_false(s:is_open())
    assert.is_false(s:is_recording())
    s:finish()
    s:finish()   -- shared: finishing it again is not an error
    assert.matches("no%-op", tostring(s))
  end)

  it("a span inside an unsampled trace allocates nothing", function()
    local t = h.mem{ sample = 0 }
    local root = t:start("root")
    for _ = 1, 100 do t:start("warm"):finish() end
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    for _ = 1, 10000 do
      local s = t:start("x")
      s:set("k", 1)
      s:event("e")
      s:finish()
    end
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    assert.is_true(grown < 1, "grew " .. grown .. " KiB")
    root:finish()
    assert.are.equal(0, #h.of(t, "start"))
    t:close()
  end)

  it("an unsampled root that is dropped unfinished is collected and the context heals", function()
    local t = h.mem{ sample = 0 }
    local live = h.mem()
    do
      local leaked = t:start("never finished")
      assert.are.equal(leaked, spanline.current())
      assert.are.equal(spanline.noop, t:start("child of unsampled"))
      -- another tracer decides for its own spans
      local own = live:start("own root")
      assert.is_true(own:is_recording())
      assert.is_nil(own:parent_id())
      own:finish()
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(spanline.current())
    assert.is_nil(t:current())
    local again = t:start("unsampled again")   -- a root of its own, not the shared no-op
    assert.are_not.equal(spanline.noop, again)
    assert.are.equal(again, t:current())
    again:finish()
    local s = live:start("recorded again")
    assert.is_true(s:is_recording())
    s:finish()
    assert.is_not_nil(h.start_of(live, "recorded again"))
    assert.is_nil(h.start_of(live, "child of unsampled"))
    t:close()
    live:close()
  end)
end)

-- The decision is a function of the trace id (design.md §2): its 62 random
-- tail bits against sample * 2^62, so any process seeing the trace id could
-- repeat it. Hex digit 17 of an id holds the variant (0b10) and the two
-- highest random bits.
describe("sampling from the trace id", function()
  local function first_tail_digits(p, n)
    local t = h.mem{ sample = p, meta = false }
    local seen = {}
    for _ = 1, n do
      local s = t:start("root")
      if s:is_recording() then
        assert.are.equal(s:id(), s:trace_id())
        seen[s:trace_id():sub(17, 17)] = true
      end
      s:finish()
    end
    t:close()
    return seen
  end

  it("records only roots whose random tail is below sample * 2^62", function()
    -- p = 0.5: the highest random bit is 0 -> digit 8 or 9, never a or b
    local seen = first_tail_digits(0.5, 2000)
    assert.is_true(seen["8"] or seen["9"])
    assert.is_nil(seen["a"])
    assert.is_nil(seen["b"])
    -- p = 0.25: both high random bits are 0 -> digit 8 only
    seen = first_tail_digits(0.25, 2000)
    assert.is_true(seen["8"])
    assert.is_nil(seen["9"])
    assert.is_nil(seen["a"])
    assert.is_nil(seen["b"])
  end)

  it("the ids of recorded roots stay in creation order", function()
    local t = h.mem{ sample = 0.5, meta = false }
    local ids = {}
    for _ = 1, 500 do
      local s = t:start("root")
      if s:is_recording() then ids[#ids + 1] = s:id() end
      s:finish()
      local c = t:start("other", nil, { root = true })
      if c:is_recording() then ids[#ids + 1] = c:id() end
      c:finish()
    end
    for i = 2, #ids do assert.is_true(ids[i - 1] < ids[i]) end
    t:close()
  end)

  it("children and traced calls of a recorded root share its trace id", function()
    local t = h.mem{ sample = 0.5, seed = 3, meta = false }
    local f = t:traced("leaf", function() return spanline.current():trace_id() end)
    local roots = 0
    for _ = 1, 50 do
      local r = t:start("root")
      local trace = f()
      if r:is_recording() then
        roots = roots + 1
        assert.are.equal(r:trace_id(), trace)
      else
        assert.is_nil(trace)   -- the no-op span has no ids
      end
      r:finish()
    end
    assert.are.equal(roots * 2, #h.of(t, "start"))
    t:close()
  end)
end)
