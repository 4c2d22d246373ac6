-- propagation_spec.lua: spanline.extract / spanline.inject against the W3C
-- trace-context test suite's cases (test/test.py), and tracer:start continuing
-- a remote trace from an extracted context.
local spanline = require("spanline")
local h = require("tracer_helpers")

local TRACE = "12345678901234567890123456789012"
local SPAN = "1234567890123456"
local VALID = "00-" .. TRACE .. "-" .. SPAN .. "-01"

-- The context extracted from one traceparent value (and tracestate values).
local function ex(tp, ...)
  local headers = { traceparent = tp }
  local ts = { ... }
  if #ts > 0 then headers.tracestate = ts end
  return spanline.extract(headers)
end

local function valid(ctx)
  return ctx.traceparent ~= nil and ctx.trace == TRACE
end

describe("spanline.extract: traceparent", function()
  it("reads a valid header, any name casing, from a table or a string", function()
    for _, name in ipairs({ "traceparent", "TraceParent", "TRACEPARENT" }) do
      local ctx = spanline.extract({ [name] = VALID })
      assert.are.equal(TRACE, ctx.trace)
      assert.are.equal(SPAN, ctx.span)
      assert.are.equal(1, ctx.flags)
      assert.is_true(ctx.sampled)
      assert.are.equal(VALID, ctx.traceparent)
    end
    assert.are.equal(TRACE, spanline.extract(VALID).trace)
  end)

  it("ignores other header names and reports a missing header unmalformed", function()
    for _, name in ipairs({ "trace-parent", "trace.parent" }) do
      local ctx = spanline.extract({ [name] = VALID })
      assert.is_nil(ctx.traceparent)
      assert.is_nil(ctx.malformed)
    end
    assert.is_nil(spanline.extract({}).malformed)
  end)

  it("rejects a repeated traceparent", function()
    local ctx = spanline.extract({ traceparent = { "00-" .. TRACE:sub(1, 31) .. "1-" .. SPAN .. "-01", VALID } })
    assert.is_nil(ctx.traceparent)
    assert.is_true(ctx.malformed)
  end)

  it("trims optional whitespace", function()
    for _, v in ipairs({ " " .. VALID, "\t" .. VALID, VALID .. " ", VALID .. "\t", "\t " .. VALID .. " \t" }) do
      assert.is_true(valid(ex(v)), v)
    end
  end)

  it("reads a future version by the version-00 prefix, and no other", function()
    assert.is_true(valid(ex("cc-" .. TRACE .. "-" .. SPAN .. "-01")))
    local future = ex("cc-" .. TRACE .. "-" .. SPAN .. "-01-what-the-future-will-be-like")
    assert.is_true(valid(future))
    assert.are.equal(VALID, future.traceparent)  -- re-sent as version 00
    assert.is_false(valid(ex("cc-" .. TRACE .. "-" .. SPAN .. "-01.what-the-future-will-be-like")))
    assert.is_false(valid(ex(VALID .. ".")))
    assert.is_false(valid(ex(VALID .. "-what-the-future-will-be-like")))  -- version 00: exact length
  end)

  it("rejects every malformed header of the test suite, and counts none as valid", function()
    local bad = {
      "ff-" .. TRACE .. "-" .. SPAN .. "-01",                 -- version ff
      ".0-" .. TRACE .. "-" .. SPAN .. "-01",
      "0.-" .. TRACE .. "-" .. SPAN .. "-01",
      "000-" .. TRACE .. "-" .. SPAN .. "-01",
      "0000-" .. TRACE .. "-" .. SPAN .. "-01",
      "0-" .. TRACE .. "-" .. SPAN .. "-01",
      "00-" .. string.rep("0", 32) .. "-" .. SPAN .. "-01",   -- all-zero trace id
      "00-." .. TRACE:sub(2) .. "-" .. SPAN .. "-01",
      "00-" .. TRACE:sub(1, 31) .. ".-" .. SPAN .. "-01",
      "00-" .. TRACE .. "3-" .. SPAN .. "-01",                -- trace id too long
      "00-" .. TRACE:sub(1, 31) .. "-" .. SPAN .. "-01",      -- too short
      "00-" .. TRACE .. "-" .. string.rep("0", 16) .. "-01",  -- all-zero parent id
      "00-" .. TRACE .. "-." .. SPAN:sub(2) .. "-01",
      "00-" .. TRACE .. "-" .. SPAN:sub(1, 15) .. ".-01",
      "00-" .. TRACE .. "-" .. SPAN .. "7-01",
      "00-" .. TRACE .. "-" .. SPAN:sub(1, 15) .. "-01",
      "00-" .. TRACE .. "-" .. SPAN .. "-.0",                 -- flags
      "00-" .. TRACE .. "-" .. SPAN .. "-0.",
      "00-" .. TRACE .. "-" .. SPAN .. "-001",
      "00-" .. TRACE .. "-" .. SPAN .. "-1",
      "00-" .. TRACE:upper():gsub("1", "A") .. "-" .. SPAN .. "-01",  -- uppercase hex
      "00-" .. TRACE .. "-" .. SPAN .. "-0A",
      "CC-" .. TRACE .. "-" .. SPAN .. "-01",
      "", "garbage",
    }
    for _, v in ipairs(bad) do
      local ctx = ex(v)
      assert.is_nil(ctx.traceparent, v)
      assert.is_true(ctx.malformed, v)
    end
  end)

  it("keeps the flags: sampled bit and the others", function()
    local ctx = ex("00-" .. TRACE .. "-" .. SPAN .. "-00")
    assert.is_false(ctx.sampled)
    assert.are.equal(0, ctx.flags)
    ctx = ex("00-" .. TRACE .. "-" .. SPAN .. "-03")
    assert.is_true(ctx.sampled)
    assert.are.equal(3, ctx.flags)
    assert.are.equal("00-" .. TRACE .. "-" .. SPAN .. "-03", ctx.traceparent)
  end)

  it("raises only on misuse (not a table or string)", function()
    assert.has_error(function() spanline.extract(42) end,
      "bad argument #1 to 'extract' (headers table or traceparent string expected, got number)")
  end)
end)

describe("spanline.extract: tracestate", function()
  local unsampled = "00-" .. TRACE .. "-" .. SPAN .. "-00"

  it("is not read without a valid traceparent", function()
    assert.is_nil(spanline.extract({ tracestate = "foo=1" }).tracestate)
    assert.is_nil(ex("garbage", "foo=1").tracestate)
  end)

  it("combines repeated headers in order, trimming whitespace, skipping empty ones", function()
    assert.are.equal("foo=1,bar=2,rojo=1,congo=2,baz=3",
      ex(unsampled, "foo=1,bar=2", "rojo=1,congo=2", "baz=3").tracestate)
    assert.are.equal("foo=1,bar=2,baz=3", ex(unsampled, "foo=1 \t , \t bar=2, \t baz=3").tracestate)
    assert.are.equal("foo=1", ex(unsampled, "", "foo=1").tracestate)
    assert.are.equal("foo=1", ex(unsampled, "\t foo=1 \t").tracestate)
    assert.is_nil(ex(unsampled, "").tracestate)
    local ctx = spanline.extract({ TraceParent = unsampled, TRACESTATE = "foo=1" })
    assert.are.equal("foo=1", ctx.tracestate)
    assert.is_nil(spanline.extract({ traceparent = unsampled, ["trace-state"] = "foo=1" }).tracestate)
  end)

  it("keeps members as given, duplicates included", function()
    assert.are.equal("foo=1,foo=2", ex(unsampled, "foo=1,foo=2").tracestate)
  end)

  it("accepts every allowed character and vendor keys", function()
    local key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
    local chars = {}
    for c = 0x20, 0x7E do
      if c ~= 0x2C and c ~= 0x3D then chars[#chars + 1] = string.char(c) end
    end
    local value = table.concat(chars)
    assert.are.equal(key .. "=" .. value, ex(unsampled, key .. "=" .. value).tracestate)
    assert.are.equal(key .. "@a-z0-9_-*/=" .. value, ex(unsampled, key .. "@a-z0-9_-*/=" .. value).tracestate)
    assert.are.equal("foo@=1,bar=2", ex(unsampled, "foo@=1,bar=2").tracestate)
    assert.are.equal("foo@@bar=1,bar=2", ex(unsampled, "foo@@bar=1,bar=2").tracestate)
  end)

  it("drops the whole header for a bad member", function()
    for _, v in ipairs({ "foo =1", "FOO=1", "foo.bar=1", "@foo=1,bar=2", "foo=bar=baz", "foo=,bar=3",
      "foo=1,bar=x\1", "a=\127", string.rep("z", 257) .. "=1" }) do
      assert.is_nil(ex(unsampled, "ok=1", v).tracestate, v)
    end
    assert.are.equal("foo=1," .. string.rep("z", 256) .. "=1",
      ex(unsampled, "foo=1", string.rep("z", 256) .. "=1").tracestate)
  end)

  it("keeps up to 32 members and drops 33", function()
    local m = {}
    for i = 1, 33 do m[i] = string.format("bar%02d=%02d", i, i) end
    local ts32 = ex(unsampled, table.concat(m, ",", 1, 32)).tracestate
    assert.are.equal(table.concat(m, ",", 1, 32), ts32)
    assert.is_nil(ex(unsampled, table.concat(m, ",", 1, 10), table.concat(m, ",", 11, 33)).tracestate)
  end)
end)

describe("tracer:start with an extracted context", function()
  it("continues the remote trace: same trace id, the remote span id as parent", function()
    local t = h.mem()
    local ctx = spanline.extract({ traceparent = VALID })
    local s = t:start("server", nil, { parent = ctx })
    local child = t:start("child")
    child:finish()
    s:finish()
    assert.are.equal(TRACE, s:trace_id())
    assert.are.equal(SPAN, s:parent_id())
    local st = h.start_of(t, "server")
    assert.are.equal(TRACE, st.trace)
    assert.are.equal(SPAN, st.parent)
    assert.are.equal(TRACE, h.start_of(t, "child").trace)
    assert.are.equal(0, t:stats().bad_traceparents)
  end)

  it("starts a new trace for a malformed or missing header, counting only the malformed", function()
    local t = h.mem()
    local outer = t:start("outer")
    local bad = t:start("bad", nil, { parent = spanline.extract({ traceparent = "00-zz" }) })
    bad:finish()
    local none = t:start("none", nil, { parent = spanline.extract({}) })
    none:finish()
    outer:finish()
    assert.is_nil(bad:parent_id())          -- a root, not a child of `outer`
    assert.are.equal(bad:id(), bad:trace_id())
    assert.is_nil(none:parent_id())
    assert.are.equal(1, t:stats().bad_traceparents)
  end)

  it("follows the remote sampled flag when sampling", function()
    local t = h.mem({ sample = 0.5, seed = 7 })
    local s = t:start("s", nil, { parent = spanline.extract("00-" .. TRACE .. "-" .. SPAN .. "-00") })
    assert.are.equal(spanline.noop, t:start("below"))
    s:finish()
    local kept = t:start("k", nil, { parent = spanline.extract(VALID) })
    assert.are.equal(TRACE, kept:trace_id())
    kept:finish()
  end)
end)

describe("spanline.inject", function()
  it("sets traceparent for a span, replacing any casing of the name", function()
    local t = h.mem()
    local s = t:start("client")
    local headers = spanline.inject(s, { TraceParent = "stale", accept = "*/*" })
    assert.are.equal(s:traceparent(), headers.traceparent)
    assert.is_nil(headers.TraceParent)
    assert.are.equal("*/*", headers.accept)
    assert.are.equal(s:traceparent(), spanline.inject(s).traceparent)
    s:finish()
    local back = spanline.extract(spanline.inject(s, {}))
    assert.are.equal(s:trace_id(), back.trace)
    assert.are.equal(s:id():sub(17), back.span)
  end)

  it("passes tracestate through for spans of a trace that arrived with one", function()
    local t = h.mem()
    local trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    local ctx = spanline.extract({ traceparent = "00-" .. trace .. "-00f067aa0ba902b7-01",
      tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE" })
    local server = t:start("server", nil, { parent = ctx })
    local client = t:start("client")
    local out = spanline.inject(client, {})
    assert.are.equal("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", out.tracestate)
    assert.are.equal(client:traceparent(), out.traceparent)
    client:finish()
    server:finish()
    local other = t:start("other", nil, { root = true })
    assert.is_nil(spanline.inject(other, { tracestate = "old=1" }).tracestate)
    other:finish()
  end)

  it("forwards an extracted context as it is", function()
    local ctx = spanline.extract({ traceparent = VALID, tracestate = "a=1" })
    local out = spanline.inject(ctx, {})
    assert.are.equal(VALID, out.traceparent)
    assert.are.equal("a=1", out.tracestate)
    assert.is_nil(spanline.inject(spanline.extract("bad"), {}).traceparent)
  end)

  it("sets nothing for an unsampled span, and raises on misuse", function()
    assert.is_nil(spanline.inject(spanline.noop, {}).traceparent)
    assert.has_error(function() spanline.inject(42, {}) end,
      "bad argument #1 to 'inject' (span or context expected, got number)")
    local t = h.mem()
    local s = t:start("x")
    assert.has_error(function() spanline.inject(s, "headers") end,
      "bad argument #2 to 'inject' (table expected, got string)")
    s:finish()
  end)
end)
