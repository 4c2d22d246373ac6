-- core.reader from Lua: record tables (integer ts, hex ids, lazy attrs),
-- bad lines with numbers, js-logger streams, errors as nil/msg/code,
-- follow mode, reading from a string, re-encoding records.
local core = require("spanline.core")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"

local function all(r)
  local out = {}
  while true do
    local rec = r:next()
    if not rec then break end
    out[#out + 1] = rec
  end
  return out
end

describe("core.reader", function()
  it("reads records with integer timestamps and hex ids", function()
    local recs = all(assert(core.reader(FIX .. "/query_basic.jsonl")))
    assert.equal(26, #recs)
    assert.equal("meta", recs[1].type)
    assert.equal("fixture", recs[1].service)
    assert.equal(7, recs[1].pid)
    local s = recs[3]
    assert.equal("start", s.type)
    assert.equal("00000000000000000000000000000002", s.id)
    assert.equal("00000000000000000000000000000001", s.parent)
    assert.equal("db.query", s.name)
    assert.equal(1764000000010000000, s.ts)
    assert.equal("integer", math.type(s.ts))
    assert.equal(1, s.lane)
    assert.equal(3, s.line)
    assert.equal('{"sql":"select 1","rows":3}', s.attrs_json)
    assert.same({ sql = "select 1", rows = 3 }, s.attrs)  -- decoded on first access
    assert.is_true(recs[21].parent_short)
    assert.equal("00f067aa0ba902b7", recs[21].parent)
  end)

  it("skips and counts bad lines by number, never stopping", function()
    local r = assert(core.reader(FIX .. "/query_bad.jsonl"))
    local recs = all(r)
    assert.equal(4, #recs)  -- meta, start a, end a, start b
    local n, lines = r:bad_lines()
    assert.equal(3, n)
    assert.same({ 3, 5, 7 }, lines)
  end)

  it("skips lines over max_line", function()
    local long = '{"type":"start","id":"' .. string.rep("0", 31) .. '1","name":"' .. string.rep("x", 500) .. '","ts":1}\n'
    local ok = '{"type":"start","id":"' .. string.rep("0", 31) .. '2","name":"y","ts":2}\n'
    local r = core.reader_string(long .. ok, { max_line = 200 })
    local recs = all(r)
    assert.equal(1, #recs)
    assert.equal(2, recs[1].line)
    assert.same({ 1, { 1 } }, { r:bad_lines() })
  end)

  it("reads js-logger streams: 759 matched spans", function()
    local r = assert(core.reader(FIX .. "/js-logger/polykey-cli-agent-start.jsonl"))
    local starts, ends, open = 0, 0, {}
    for _, rec in ipairs(all(r)) do
      if rec.type == "start" then
        starts = starts + 1
        open[rec.id] = rec.ts
      else
        assert.equal("end", rec.type)
        assert.equal("ok", rec.status)
        assert.is_true(rec.ts >= open[rec.id])
        ends = ends + 1
      end
    end
    assert.equal(759, starts)
    assert.equal(759, ends)
    assert.equal(0, (r:bad_lines()))
  end)

  it("returns nil, message, code for files it cannot open", function()
    local r, msg, code = core.reader("/nonexistent/x.jsonl")
    assert.is_nil(r)
    assert.matches("No such file", msg)
    assert.equal("ENOENT", code)
    r, msg, code = core.reader("/tmp")
    assert.is_nil(r)
    assert.equal("EISDIR", code)
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.reader({}) end)
    assert.has_error(function() core.reader("x", { max_line = -1 }) end)
  end)

  it("follows a growing file", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('{"type":"start","id":"' .. string.rep("0", 31) .. '1","name":"a","ts":1}\n')
    f:flush()
    local r = assert(core.reader(path, { follow = true }))
    assert.equal("a", r:next().name)
    assert.is_false(r:next())
    f:write('{"type":"end","id":"' .. string.rep("0", 31) .. '1","ts":5,"status":"ok"}\n')
    f:flush()
    local rec = r:next()
    assert.equal("end", rec.type)
    assert.equal(5, rec.ts)
    assert.is_false(r:next())
    f:close()
    r:close()
    os.remove(path)
  end)

  it("reads MessagePack streams (told apart by the first byte)", function()
    local function str(x) return string.char(0xa0 + #x) .. x end
    local id = string.rep("\0", 15) .. "\1"
    local start = "\x85" .. str("type") .. str("start") .. str("id") .. "\xc4\x10" .. id ..
      str("name") .. str("m") .. str("ts") .. "\xcf" .. string.pack(">I8", 1764000000000000001) ..
      str("attrs") .. "\x81" .. str("k") .. "\x2a"
    local stop = "\x84" .. str("type") .. str("end") .. str("id") .. "\xc4\x10" .. id ..
      str("ts") .. "\xcf" .. string.pack(">I8", 1764000000000000009) .. str("status") .. str("ok")
    local r = core.reader_string(start .. "\xc1" .. stop)
    local a, b = r:next(), r:next()
    assert.equal("start", a.type)
    assert.equal(string.rep("0", 31) .. "1", a.id)
    assert.equal(1764000000000000001, a.ts)
    assert.equal('{"k":42}', a.attrs_json)
    assert.equal("end", b.type)
    assert.equal(1764000000000000009, b.ts)
    assert.is_nil(r:next())
    assert.equal(1, (r:bad_lines()))  -- the 0xc1 byte
  end)

  it("re-encodes records as spanline lines", function()
    local r = core.reader_string('{"type":"stop","id":"v0q12tlpvrdo018r2u4batn15lo","startId":"v0q12tlpvrdo018r2u4batn15lk"}\n')
    local rec = r:next()
    local line = core.record_jsonl(rec)
    local back = core.reader_string(line):next()
    assert.equal(rec.id, back.id)
    assert.equal(rec.ts, back.ts)
    assert.equal("ok", back.status)
  end)
end)

describe("the writer's output", function()
  -- The reader's fast path matches lines in the encoder's exact layout;
  -- record_jsonl writes that layout, so a round trip must be byte-identical.
  it("is read back and re-encoded byte for byte", function()
    local spanline = require("spanline")
    local path = os.tmpname()
    local tr = assert(spanline.tracer({ output = path, service = "t" }))
    local s = tr:start("outer", { k = "v\"q", n = 3 })
    local c = tr:start("inner")
    c:event("ev", { a = 1 })
    c:set("rows", 10)
    c:finish()
    s:finish()
    tr:close()
    local r = assert(core.reader(path, { raw = true }))
    local n = 0
    while true do
      local rec = r:next()
      if not rec then break end
      n = n + 1
      if rec.type ~= "meta" then assert.equal(rec.raw .. "\n", core.record_jsonl(rec)) end
    end
    os.remove(path)
    assert.equal(7, n)  -- meta, 2 starts, event, attr, 2 ends
    assert.equal(0, (r:bad_lines()))
  end)
end)

describe("core.json_decode (attribute texts)", function()
  it("keeps integers as integers and decodes strings byte for byte", function()
    local v = core.json_decode('{"n":3,"neg":-12,"big":9007199254740993,"f":1.5,"e":1e3,"s":"a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00","t":true,"no":false,"a":[1,"x",2.5],"nil":null}')
    assert.equal("integer", math.type(v.n))
    assert.equal(-12, v.neg)
    assert.equal(9007199254740993, v.big)
    assert.equal("float", math.type(v.f))
    assert.equal(1000.0, v.e)
    assert.equal("float", math.type(v.e))
    assert.equal('a"b\\c\n\u{e9}\u{1f600}', v.s)
    assert.is_true(v.t)
    assert.is_false(v.no)
    assert.same({ 1, "x", 2.5 }, v.a)
    assert.is_nil(v["nil"])
    -- a number too big for 64 bits becomes a float
    assert.equal("float", math.type(core.json_decode("123456789012345678901234")))
  end)

  it("returns nil for bad or too deeply nested input", function()
    for _, bad in ipairs({ "", "{", '{"a":}', "[1,]", '"abc', "tru", "1 2", '{"a":1}x', '"\\x"' }) do
      assert.is_nil(core.json_decode(bad), bad)
    end
    assert.is_nil(core.json_decode(string.rep("[", 100) .. string.rep("]", 100)))
    assert.same({ { {} } }, core.json_decode("[[[]]]"))
  end)
end)
