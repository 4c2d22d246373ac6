-- abandoned_spec: spans that are collected, or left open when the tracer
-- closes, end with status "abandoned"; the context never keeps them alive.
local spanline = require("spanline")
local h = require("tracer_helpers")

local function full_gc()
  collectgarbage()
  collectgarbage()
end

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

  it("reports spans collected after many starts (no leak of slots)", function()
    for _ = 1, 1000 do t:start("temp", nil, { current = false }) end
    full_gc()
    local st = t:stats()
    assert.are.equal(1000, st.abandoned)
    assert.are.equal(0, st.spans_open)
    assert.are.equal(0, #t:active())
  end)
end)
