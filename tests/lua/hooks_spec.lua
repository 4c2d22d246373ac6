-- hooks_spec: tracer:on("start"|"event"|"end", fn): hooks see spans, may add
-- attributes, can be removed, and never break the traced program.
local h = require("tracer_helpers")

describe("hooks", function()
  local t
  before_each(function() t = h.mem() end)
  after_each(function() t:close() end)

  it("calls start hooks with the span; attributes they add are recorded", function()
    local seen = {}
    t:on("start", function(span)
      seen[#seen + 1] = span:name()
      span:set("host", "h1")
    end)
    local s = t:start("work")
    s:finish()
    assert.are.same({ "work" }, seen)
    local attrs = {}
    for _, r in ipairs(t:records()) do
      if r.id == s:id() and r.attrs then
        for k, v in pairs(r.attrs) do attrs[k] = v end
      end
    end
    assert.are.equal("h1", attrs.host)
  end)

  it("calls event hooks with the span, name and attrs", function()
    local got
    t:on("event", function(span, name, attrs) got = { span, name, attrs } end)
    local s = t:start("x")
    local a = { k = 1 }
    s:event("retry", a)
    s:finish()
    assert.are.equal(s, got[1])
    assert.are.equal("retry", got[2])
    assert.are.equal(a, got[3])
  end)

  it("calls end hooks before the end record, with status and error", function()
    local got = {}
    t:on("end", function(span, status, err)
      got[#got + 1] = { span:name(), status, err }
      span:set("final", true)
    end)
    local s = t:start("a")
    s:finish("error", "bad")
    assert.are.same({ { "a", "error", "bad" } }, got)
    local recs = t:records()
    local attr_i, end_i
    for i, r in ipairs(recs) do
      if r.type == "attr" and r.id == s:id() and r.attrs.final == true then attr_i = i end
      if r.type == "end" and r.id == s:id() then end_i = i end
    end
    assert.is_not_nil(attr_i)
    assert.is_true(attr_i < end_i)
    t:traced("traced", function() end)()
    assert.are.equal("traced", got[2][1])
    assert.are.equal("ok", got[2][2])
  end)

  it("stops calling a hook after unsubscribe (twice is harmless)", function()
    local n, m = 0, 0
    local off = t:on("start", function() n = n + 1 end)
    t:on("start", function() m = m + 1 end)
    t:start("1"):finish()
    off()
    off()
    t:start("2"):finish()
    assert.are.equal(1, n)
    assert.are.equal(2, m)
  end)

  it("a failing hook never breaks the program and is counted", function()
    t:on("start", function() error("hook bug") end)
    t:on("end", function() error({}) end)
    local later = 0
    t:on("start", function() later = later + 1 end)
    local f = t:traced("f", function(x) return x * 2 end)
    assert.are.equal(8, f(4))
    local s = t:start("plain")
    s:finish()
    assert.are.equal(2, later)            -- hooks after a failing one still run
    assert.are.equal(4, t:stats().hook_errors)
    assert.are.equal("ok", h.end_of(t, s:id()).status)
  end)

  it("reports a hook error once on stderr", function()
    local status, _, err = h.run_lua([[
      local spanline = require("spanline")
      local t = spanline.tracer{ output = ":memory:" }
      t:on("start", function() error("hook exploded") end)
      for i = 1, 5 do t:start("x"):finish() end
      io.write(t:stats().hook_errors)
    ]])
    assert.are.equal(0, status)
    local count = select(2, err:gsub("hook exploded", ""))
    assert.are.equal(1, count)
  end)

  it("an end hook that finishes the span itself does not loop", function()
    local calls = 0
    t:on("end", function(span)
      calls = calls + 1
      span:finish()
    end)
    local s = t:start("x")
    s:finish()
    assert.are.equal(1, calls)
    assert.are.equal(1, #h.of(t, "end"))
    assert.is_false(s:is_open())
  end)

  it("hooks that start spans from start and end hooks terminate: hook spans run no hooks", function()
    local calls = { start = 0, ["end"] = 0, event = 0 }
    t:on("start", function(s)
      calls.start = calls.start + 1
      local inner = t:start("from start hook")
      inner:event("e")
      inner:finish()
    end)
    t:on("end", function()
      calls["end"] = calls["end"] + 1
      t:start("from end hook"):finish()
    end)
    t:on("event", function() calls.event = calls.event + 1 end)
    local kept
    t:on("start", function(s) if s:name() == "outer" then kept = t:start("left open") end end)
    local s = t:start("outer")
    s:finish()
    kept:finish()                     -- made by a hook: runs no hooks, even later
    assert.are.same({ start = 1, ["end"] = 1, event = 0 }, calls)
    assert.are.equal(4, #h.of(t, "start"))   -- outer, from start hook, left open, from end hook
    assert.are.equal(4, #h.of(t, "end"))
    assert.are.equal(1, #h.of(t, "event"))
    -- the spans they made are recorded, as children of the hooked span
    assert.are.equal(s:id(), h.start_of(t, "from start hook").parent)
  end)

  it("no hook runs while another hook runs, and hooks run again afterwards", function()
    local other = t:start("other")
    local seen = {}
    t:on("end", function(span)
      seen[#seen + 1] = span:name()
      if span:name() == "first" then other:finish() end   -- ends a span from a hook
    end)
    t:start("first"):finish()
    t:start("second"):finish()
    assert.are.same({ "first", "second" }, seen)
    assert.is_false(other:is_open())
  end)

  it("rejects unknown kinds and non-functions", function()
    assert.has_error(function() t:on("begin", print) end)
    assert.has_error(function() t:on("start", 42) end)
  end)

  it("does not call hooks for unsampled spans", function()
    local u = h.mem{ sample = 0 }
    local n = 0
    u:on("start", function() n = n + 1 end)
    u:start("x"):finish()
    assert.are.equal(0, n)
    u:close()
  end)
end)

describe("hooks on traced calls", function()
  it("get a span object for the call's span", function()
    local t = h.mem()
    local seen = {}
    t:on("start", function(s) seen[#seen + 1] = "start " .. s:name(); s:set("hooked", true) end)
    t:on("end", function(s, status) seen[#seen + 1] = "end " .. s:name() .. " " .. status end)
    local f = t:traced("call", function() return 1 end)
    f()
    assert.has_error(t:traced("bad", function() error("boom") end))
    assert.are.same({ "start call", "end call ok", "start bad", "end bad error" }, seen)
    local attrs = h.of(t, "attr")
    assert.are.equal(2, #attrs)
    assert.is_true(attrs[1].attrs.hooked)
    t:close()
  end)
end)
