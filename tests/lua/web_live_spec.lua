-- web_live_spec: what `spanline serve` streams (spanline.web.live): every
-- span once in the snapshot, parents as serials of their spans, a growing
-- file's new spans in later batches with their parents re-sent, the report
-- over every span; and no Lua value kept per span (the spans stay in C).
local cjson = require("cjson")
local spanline = require("spanline")
local live_mod = require("spanline.web.live")
local h = require("tracer_helpers")

-- Writes traces of one root and `kids` children each, appending to path.
local function write_traces(path, traces, kids, first)
  local f = assert(io.open(path, "a"))
  local t = assert(spanline.tracer{ output = f })
  for i = first or 1, (first or 1) + traces - 1 do
    local root = t:start("request", "n", i)
    for k = 1, kids do t:start(k == kids and "db.query" or "handler"):finish() end
    if i % 10 == 0 then root:finish("error", "boom") else root:finish() end
  end
  t:close()
  f:close()
end

local function read_all(live)
  local batches = {}
  repeat
    local b = live:read()
    if b then batches[#batches + 1] = cjson.decode(b) end
  until live.state ~= "more"
  return batches
end

local function snapshot(live)
  local text = live:snapshot():match("^event: snapshot\ndata: (.*)\n\n$")
  assert.is_string(text)
  return cjson.decode(text)
end

describe("web.live", function()
  local path
  before_each(function() path = h.tmpname("live") end)
  after_each(function() os.remove(path) end)

  it("sends every span once in a snapshot, parents as serials", function()
    write_traces(path, 50, 3)
    local live = assert(live_mod.open(path))
    read_all(live)
    local snap = snapshot(live)
    local sp = snap.spans
    assert.are.equal(200, #sp.n)
    local seen = {}
    for i, n in ipairs(sp.n) do
      assert.is_nil(seen[n])
      seen[n] = i
    end
    local roots = 0
    for i = 1, #sp.n do
      local name = snap.strings[sp.name[i] + 1]
      if name == "request" then
        roots = roots + 1
        assert.are.equal(-1, sp.parent[i])
      else
        local p = seen[sp.parent[i]]
        assert.is_not_nil(p, "parent serial without a span")
        assert.are.equal("request", snap.strings[sp.name[p] + 1])
        assert.are.equal(sp.trace[p], sp.trace[i])
      end
    end
    assert.are.equal(50, roots)
    -- the report counts every span by name
    local counts = {}
    for _, row in ipairs(snap.report.rows) do counts[row[1]] = row[2] end
    assert.are.same({ request = 50, handler = 100, ["db.query"] = 50 }, counts)
    live:stop()
  end)

  it("streams a growing file's new spans, re-sending the parents they change", function()
    write_traces(path, 5, 1)
    local live = assert(live_mod.open(path))
    read_all(live)
    local before = snapshot(live)
    local known = {}
    for _, n in ipairs(before.spans.n) do known[n] = true end
    write_traces(path, 2, 2, 6)
    local batches = read_all(live)
    assert.is_true(#batches >= 1)
    local new, names = 0, {}
    for _, b in ipairs(batches) do
      assert.is_false(b.snapshot)
      for i, n in ipairs(b.spans.n) do
        if not known[n] then new = new + 1 end
        known[n] = true
        local p = b.spans.parent[i]
        if p ~= -1 then assert.is_true(known[p] or false, "a parent serial not sent yet") end
      end
      for _, s in ipairs(b.strings) do names[s] = true end
    end
    assert.are.equal(6, new)   -- two roots and four children
    assert.is_true(names["handler"] or names["db.query"] or false)
    live:stop()
  end)

  it("keeps no Lua value per span: the spans stay in the C store", function()
    write_traces(path, 1000, 9)   -- 10,000 spans
    collectgarbage()
    collectgarbage()
    local base = collectgarbage("count")
    local live = assert(live_mod.open(path))
    read_all(live)
    snapshot(live)
    live:report_rows()
    collectgarbage()
    collectgarbage()
    local per_span = (collectgarbage("count") - base) * 1024 / 10000
    -- a ref's last start (16 bytes), the interned trace ids (one per
    -- trace): a table per span cost over 1 KB
    assert.is_true(per_span < 200, string.format("%.0f bytes of Lua heap per span", per_span))
    live:stop()
  end)
end)
