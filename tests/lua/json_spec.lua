-- json_spec: spanline.json, the Lua side's one JSON value writer, writes
-- every value as the core's writer (core/src/json.h) does, so a value reads
-- the same in a trace file, a report, a Chrome trace and the web page.
local json = require("spanline.json")
local spanline = require("spanline")
local cjson = require("cjson")

-- The core's text for v: an attribute value in a start record.
local function core_text(v)
  local tracer = spanline.tracer{ output = ":memory:", meta = false }
  tracer:start("x", "v", v):finish()
  local text = tracer:output():match('"attrs":{"v":(.-)}}\n')
  tracer:close()
  return text
end

describe("spanline.json", function()
  it("writes numbers, booleans and strings as the core does", function()
    local values = {
      0, 1, -1, 42, math.maxinteger, math.mininteger, 3.0, 0.1, -2.5, 1e20, 1e-7, 2^63, 1/3,
      0/0, math.huge, -math.huge, true, false,
      "", "plain", 'quote " and \\ backslash', "tab\tnew\nline\r", "\0\1\31", "café ü 日本",
      "bad \255\254 bytes", "cut \226\130", "cut \240\159\152!", "overlong \192\175", "stray \128\191",
      "surrogate \237\160\128", "past U+10FFFF \244\144\128\128", "end cut \195", "<b>&amp;</b>", "\226\128\168 line separator",
    }
    for _, v in ipairs(values) do
      assert.are.equal(core_text(v), json.value(v), "value " .. string.format("%q", v))
    end
  end)

  it("is JSON that reads back to the value", function()
    for _, v in ipairs({ 0.1, 123456789, "x\0y", "a\"b", { 1, 2, "three" }, { k = "v", n = 2 } }) do
      local back = cjson.decode(json.value(v))
      if type(v) == "table" then
        assert.are.same(v, back)
      else
        assert.are.equal(v, back)
      end
    end
  end)

  it("writes tables: sequences as arrays, others as objects with sorted keys", function()
    assert.are.equal('[1,"a",true]', json.value({ 1, "a", true }))
    assert.are.equal('{"a":1,"b":[2,3],"c":{"d":null}}', json.value({ c = { d = {} }, b = { 2, 3 }, a = 1 }):gsub('%[%]', "null"))
    assert.are.equal("[]", json.value({}))
    assert.are.equal("null", json.value(nil))
    local deep = {}
    local t = deep
    for _ = 1, 20 do t.x = {}; t = t.x end
    assert.truthy(json.value(deep):find('"…"', 1, true))
  end)

  it("escapes for a script block when asked (html = true)", function()
    assert.are.equal('"\\u003c/script\\u003e \\u0026 \\u2028\\u2029"',
      json.string("</script> & \226\128\168\226\128\169", true))
    assert.are.equal('"</script>"', json.string("</script>"))
  end)
end)
