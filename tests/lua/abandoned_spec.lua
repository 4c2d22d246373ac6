-- abandoned_spec: spans that are collected, or left open when the tracer
-- closes, end with status "abandoned"; the context never keeps them alive.
local spanline = require("spanline")
local h = require("tracer_helpers")

local full_gc = h.full_gc

describe("abandoned spans", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("ends a collected span as abandoned", function()
    local id
    do
      local s = t:start("dropped", nil, { current = false })
      id = s:id()
    end
    full_gc()
    local en = h.end_of(t, id)
    assert.is_not_nil(en)
    assert.are.equal("abandoned", en.status)
    assert.are.equal(1, t:stats().abandoned)
  end)

  it("collects a span that is current but otherwise unreferenced", function()
    local a = t:start("a")
    local id = t:start("current but dropped"):id()
    assert.are.equal(id, spanline.current():id())
    full_gc()   -- the stack holds it weakly
    assert.are.equal("abandoned", h.end_of(t, id).status)
    assert.are.equal(a, spanline.current())
    local b = t:start("b")
    b:finish()
    a:finish()
    assert.are.equal(a:id(), b:parent_id())
  end)

  it("keeps the stack consistent when a middle span is collected", function()
    local a = t:start("a")
    local mid = t:start("mid"):id()
    local c = t:start("c")
    full_gc()
    assert.are.equal("abandoned", h.end_of(t, mid).status)
    assert.are.equal(c, spanline.current())
    c:finish()
    assert.are.equal(a, spanline.current())
    a:finish()
    assert.is_nil(spanline.current())
  end)

  it("does not end finished spans again when they are collected", function()
    do
      local s = t:start("finished")
      s:finish()
    end
    full_gc()
    local ends = h.of(t, "end")
    assert.are.equal(1, #ends)
    assert.are.equal("ok", ends[1].status)
    assert.are.equal(0, t:stats().abandoned)
  end)

  it("abandons the spans of a collected coroutine", function()
    local id
    do
      local co = coroutine.create(function()
        id = t:start("in dead coroutine"):id()
        coroutine.yield()
      end)
      coroutine.resume(co)
    end
    full_gc()
    assert.are.equal("abandoned", h.end_of(t, id).status)
  end)

  it("keeps a span alive while referenced, even if its coroutine is gone", function()
    local keep
    do
      local co = coroutine.create(function() keep = t:start("kept") end)
      coroutine.resume(co)
    end
    full_gc()
    assert.is_nil(h.end_of(t, keep:id()))
    assert.is_true(keep:is_open())
    keep:finish()
    assert.are.equal("ok", h.end_of(t, keep:id()).status)
  end)

  it("close() ends every open span as abandoned", function()
    local a = t:start("a")
    local b = t:start("b")
    local c = t:start("c", nil, { current = false })
    c:finish()
    t:close()
    assert.are.equal("abandoned", h.end_of(t, a:id()).status)
    assert.are.equal("abandoned", h.end_of(t, b:id()).status)
    assert.are.equal("ok", h.end_of(t, c:id()).status)
    assert.is_nil(spanline.current())   -- closed spans leave the context
    a:finish()                           -- no error: the tracer ended it
    assert.are.equal(2, t:stats().abandoned)
  end)

  it("keeps a dropped tracer alive while its spans are open, then lets it go", function()
    local weak = setmetatable({}, { __mode = "v" })
    local s
    do
      local tr = h.mem()
      weak[1] = tr
      s = tr:start("open")
    end
    full_gc()
    assert.is_not_nil(weak[1])           -- its open span may still be finished
    assert.is_true(s:is_open())
    s:finish()
    assert.is_false(s:is_open())
    full_gc()
    full_gc()
    assert.is_nil(weak[1])               -- nothing open: collected (and closed)
    -- a dropped span of a dropped tracer: abandoned, and both collected
    local recs = {}
    do
      local tr = spanline.tracer{ output = function(b) recs[#recs + 1] = b end }
      weak[2] = tr
      tr:start("dropped")
    end
    full_gc()
    full_gc()
    full_gc()
    assert.is_nil(weak[2])
    assert.matches('"status":"abandoned"', table.concat(recs))
  end)

  it("reports spans collected after many starts (no leak of slots)", function()
    for _ = 1, 1000 do t:start("temp", nil, { current = false }) end
    full_gc()
    local st = t:stats()
    assert.are.equal(1000, st.abandoned)
    assert.are.equal(0, st.spans_open)
    assert.are.equal(0, #t:active())
  end)

  -- Random programs mixing starts, finishes (in and out of order), dropped
  -- spans, collections, coroutines (some abandoned mid-way), traced calls
  -- that fail, and a close at an arbitrary point: every started span ends
  -- exactly once, and the counters agree with the records.
  for _, seed in ipairs({ 7, 99, 2024 }) do
    it("ends every span exactly once in random programs (seed " .. seed .. ")", function()
      math.randomseed(seed)
      local tr = h.mem()
      local smp = h.mem{ sample = 0.5, seed = seed }   -- unsampled roots in the mix
      local held = {}
      local cos = {}
      local boom = tr:traced("boom", function(x)
        if x % 3 == 0 then error({ x }) end
        return x
      end)
      local close_at = math.random(300, 600)
      for step = 1, 800 do
        local r = math.random()
        if step == close_at then
          tr:close()
        elseif r < 0.22 then
          held[#held + 1] = tr:start("s" .. step, { step = step })
        elseif r < 0.30 then
          held[#held + 1] = smp:start("u" .. step, nil, { root = true })
        elseif r < 0.45 and #held > 0 then
          local i = math.random(#held)
          local sp = table.remove(held, i)
          if sp:is_open() then sp:finish(math.random() < 0.5 and "ok" or "error", "e") end
        elseif r < 0.55 and #held > 0 then
          table.remove(held, math.random(#held))   -- dropped: abandoned later
        elseif r < 0.65 then
          local co = spanline.coroutine.create(function()
            local a = tr:start("co" .. step)
            coroutine.yield()
            pcall(boom, step)
            coroutine.yield()
            a:finish()
          end)
          coroutine.resume(co)
          cos[#cos + 1] = co
        elseif r < 0.75 and #cos > 0 then
          local i = math.random(#cos)
          coroutine.resume(cos[i])
          if math.random() < 0.3 then table.remove(cos, i) end   -- abandon it
        elseif r < 0.80 then
          collectgarbage()
        else
          pcall(boom, step)
        end
      end
      held, cos = nil, nil
      collectgarbage()
      collectgarbage()
      tr:close()
      local started, ended = {}, {}
      for _, rec in ipairs(h.of(tr)) do
        if rec.type == "start" then
          assert.is_nil(started[rec.id])
          started[rec.id] = true
        elseif rec.type == "end" then
          assert.is_nil(ended[rec.id], "ended twice: " .. rec.id)
          ended[rec.id] = rec.status
        end
      end
      local n = 0
      for id in pairs(started) do
        n = n + 1
        assert.is_not_nil(ended[id], "never ended: " .. id)
      end
      for id in pairs(ended) do assert.is_true(started[id]) end
      local st = tr:stats()
      assert.are.equal(n, st.spans_started)
      assert.are.equal(n, st.spans_ended)
      assert.are.equal(0, st.spans_open)
      assert.is_nil(spanline.current())   -- nothing left current, sampled or not
      smp:close()
      local sst = smp:stats()
      assert.are.equal(sst.spans_started, sst.spans_ended)
      assert.is_true(sst.unsampled > 0)
    end)
  end
end)

-- Abandonment is found once per collection cycle (span objects have no
-- finalizer): both collector modes must find it, and only for dead objects.
describe("abandoned spans under both collector modes", function()
  for _, mode in ipairs({ "incremental", "generational" }) do
    it("finds dropped spans and keeps referenced ones (" .. mode .. ")", function()
      local t = h.mem()
      local old = collectgarbage(mode)
      local kept = {}
      for i = 1, 300 do
        local s = t:start("s" .. (i % 7), { i = i }, { current = false })
        if i % 3 == 0 then kept[#kept + 1] = s end
      end
      for _ = 1, 3 do collectgarbage() end
      collectgarbage(old)
      local st = t:stats()
      assert.are.equal(200, st.abandoned)
      assert.are.equal(100, st.spans_open)
      for _, s in ipairs(kept) do
        assert.is_true(s:is_open())
        s:finish()
      end
      assert.are.equal(0, t:stats().spans_open)
      assert.are.equal(200, t:stats().abandoned)
      t:close()
    end)
  end

  it("a slot reused by a new span does not confuse an old span object", function()
    local t = h.mem()
    local a = t:start("a")
    a:finish()
    local b = t:start("b")           -- likely reuses a's entry
    assert.has_error(function() a:finish() end, "span 'a' already finished")
    assert.is_true(b:is_open())
    assert.is_false(a:is_open())
    b:finish()
    t:close()
  end)
end)
