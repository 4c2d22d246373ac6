-- The HTML exporter's data (spanline.export.html, spanline.web.data,
-- spanline.web.page): columns that agree with spanline.query span by span,
-- self time and report rows from the query, exact integers, text that
-- cannot end the script block, and a page that loads nothing from outside.
local cjson = require("cjson")
local query = require("spanline.query")
local html = require("spanline.export.html")
local data = require("spanline.web.data")
local page = require("spanline.web.page")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"

local function decode(path)
  local q = assert(query.open(path))
  return cjson.decode(html.data(q, { file = "x.jsonl" }))
end

-- spanline.query's own view of the file: id -> span
local function spans_by_id(path)
  local out = {}
  for _, t in ipairs(assert(query.open(path)):traces()) do
    local stack = {}
    for _, r in ipairs(t.roots) do stack[#stack + 1] = r end
    while #stack > 0 do
      local s = table.remove(stack)
      out[s.id] = s
      for _, c in ipairs(s.children) do stack[#stack + 1] = c end
    end
  end
  return out
end

describe("export.html data", function()
  it("has one row per span that agrees with the query", function()
    local path = FIX .. "/view_basic.jsonl"
    local d = decode(path)
    local want = spans_by_id(path)
    local sp, str = d.spans, d.strings
    local n = 0
    for _ in pairs(want) do n = n + 1 end
    assert.equal(n, #sp.id)
    local base = math.tointeger(tonumber(d.base))
    for i, id in ipairs(sp.id) do
      local s = want[id]
      assert.is_truthy(s, id)
      assert.equal(i - 1, sp.n[i])
      assert.equal(s.name, str[sp.name[i] + 1])
      assert.equal(s.trace, str[sp.trace[i] + 1])
      assert.equal(s.status, str[sp.status[i] + 1])
      assert.equal(s.error or "", str[sp.error[i] + 1])
      assert.equal(s.start - base, sp.start[i])
      if s.dur then assert.equal(s.dur, sp.dur[i]) else assert.equal(cjson.null, sp.dur[i]) end
      if s.self then assert.equal(s.self, sp.self[i]) else assert.equal(cjson.null, sp.self[i]) end
      if s.parent_span then
        assert.equal(s.parent_span.id, sp.id[sp.parent[i] + 1])
      else
        assert.equal(-1, sp.parent[i])
      end
    end
    -- a parent that is not in the stream is kept as its id
    local remote = {}
    for _, e in ipairs(d.parent_id) do remote[sp.id[e[1] + 1]] = e[2] end
    for id, s in pairs(want) do
      if s.parent and not s.parent_span then assert.equal(s.parent, remote[id]) end
    end
  end)

  it("carries attributes and events", function()
    local d = decode(FIX .. "/view_basic.jsonl")
    local str, sp = d.strings, d.spans
    local attrs = {}
    for _, a in ipairs(d.attrs) do
      local t = {}
      for j = 2, #a, 2 do t[str[a[j] + 1]] = a[j + 1] end
      attrs[sp.id[a[1] + 1]] = t
    end
    assert.same({ user = "bob", items = 3 }, attrs["a0000000000000000000000000000001"])
    assert.same({ url = "http://x/y" }, attrs["a0000000000000000000000000000003"])
    local ev = d.events[1]
    assert.equal("a0000000000000000000000000000003", sp.id[ev[1] + 1])
    assert.equal("retry", str[ev[2][1][1] + 1])
    assert.same({ attempt = 2 }, ev[2][1][3])
  end)

  it("has the report rows of query stats by name", function()
    local path = FIX .. "/view_basic.jsonl"
    local d = decode(path)
    local rows = assert(query.open(path)):group_by("name"):stats()
    assert.equal("name", d.report.columns[1][2])
    assert.equal(#rows, #d.report.rows)
    for i, row in ipairs(rows) do
      local got = d.report.rows[i]
      for j, c in ipairs(d.report.columns) do
        local v = row[c[1]]
        if c[3] == "str" then assert.equal(v, got[j])
        elseif v == nil then assert.equal(cjson.null, got[j])
        else assert.equal(math.floor(v + 0.5), got[j]) end
      end
    end
  end)

  it("renders the js-logger fixture (759 spans, one trace)", function()
    local d = decode(FIX .. "/js-logger/polykey-cli-agent-start.jsonl")
    assert.equal(759, #d.spans.id)
    assert.equal(1, d.info.traces)
  end)
end)

describe("web.data encoding", function()
  it("writes integers exactly, beyond 2^53", function()
    local enc = data.encoder({ base = 1764000000000000000 })
    local s = { id = "a", name = "n", start = 1764000000000000001, finish = 1764000000000000003, dur = 2,
                self = 2, status = "ok", attrs = { big = 9007199254740993 }, events = {}, lane = 1 }
    local text = enc:batch({ s }, { now = 1764000000000000005 })
    assert.truthy(text:find('"base":"1764000000000000000"', 1, true))
    assert.truthy(text:find('"start":[1]', 1, true))
    assert.truthy(text:find('"now":5', 1, true))
    assert.truthy(text:find("9007199254740993", 1, true))
  end)

  it("escapes what could end a script block, and line separators", function()
    local enc = data.encoder({ base = 0 })
    local name = "</script><!--<script>\226\128\168\226\128\169&\0"
    local text = enc:batch({ { id = "x", name = name, start = 1, status = "open", events = {} } })
    assert.falsy(text:find("<", 1, true))
    assert.falsy(text:find(">", 1, true))
    assert.falsy(text:find("\226\128\168", 1, true))
    assert.falsy(text:find("\226\128\169", 1, true))
    assert.falsy(text:find("%z"))
    local d = cjson.decode(text)
    assert.equal(name, d.strings[d.spans.name[1] + 1])
  end)

  it("sends each string once, and a snapshot sends them all", function()
    local enc = data.encoder({ base = 0 })
    local a = { id = "a", trace = "t", name = "alpha", start = 1, status = "open", events = {} }
    local b = { id = "b", trace = "t", name = "alpha", start = 2, status = "open", events = {} }
    local first = cjson.decode(enc:batch({ a }))
    assert.equal(0, first.strings_from)
    local second = cjson.decode(enc:batch({ b }))
    assert.equal(#first.strings, second.strings_from)
    assert.same({}, second.strings)        -- "alpha", "t" and "open" known already
    assert.same({ 1 }, second.spans.n)      -- b got the next serial
    local snap = cjson.decode(enc:batch({ a, b }, { snapshot = true }))
    assert.equal(0, snap.strings_from)
    assert.same({ 0, 1 }, snap.spans.n)     -- serials kept
    local after = cjson.decode(enc:batch({ { id = "c", name = "gamma", start = 3, status = "open", events = {} } }))
    assert.equal(#first.strings, after.strings_from)  -- the snapshot did not move what others have seen
  end)
end)

describe("web.page", function()
  it("inlines every stylesheet and script: nothing is loaded from outside", function()
    local text = assert(page.render('{"v":1}', { title = "t <x>" }))
    assert.falsy(text:find("<script src", 1, true))
    assert.falsy(text:find("<link rel=\"stylesheet\"", 1, true))
    assert.falsy(text:find("https?://"))
    for attr in text:gmatch('%s(%a+)="[^"]*"') do
      assert.are_not.equal("src", attr)
    end
    assert.truthy(text:find('<script type="application/json" id="spanline-data">{"v":1}</script>', 1, true))
    assert.truthy(text:find("<title>t &lt;x&gt;</title>", 1, true))
  end)

  it("writes through the exporter contract", function()
    local chunks = {}
    local out = { write = function(self, s) chunks[#chunks + 1] = s return self end }
    local q = assert(query.open(FIX .. "/view_basic.jsonl"))
    assert.is_true(html.export(q, out, { file = "view_basic.jsonl" }))
    local text = table.concat(chunks)
    assert.truthy(text:find("^<!DOCTYPE html>"))
    assert.truthy(text:find("<title>spanline: view_basic.jsonl</title>", 1, true))
    assert.truthy(text:find('"spans":{"n":[0,1,', 1, true))
  end)
end)
