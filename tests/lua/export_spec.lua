-- export_spec.lua: spanline.export's file formats: chrome (nesting per tid,
-- microsecond units, events, metadata), folded (hand-computed self times),
-- the format registry and its errors.
local cjson = require("cjson")
local spanline = require("spanline")
local export = require("spanline.export")

local function id(n) return string.format("%032x", n) end

-- A spanline/1 stream from compact span descriptions:
-- { n, parent_n|nil, name, start, finish|nil, lane, status, events }
local function stream(spans, service)
  local lines = { string.format('{"type":"meta","format":"spanline/1","pid":77,"service":"%s","ts":0}',
    service or "svc") }
  local ends = {}
  for _, s in ipairs(spans) do
    local parent = s[2] and string.format(',"parent":"%s"', id(s[2])) or ""
    lines[#lines + 1] = { s[4], string.format('{"type":"start","id":"%s","trace":"%s"%s,"name":%s,"ts":%d,"lane":%d}',
      id(s[1]), id(s.trace or 1), parent, cjson.encode(s[3]), s[4], s[6] or 1) }
    for _, e in ipairs(s.events or {}) do
      lines[#lines + 1] = { e[2], string.format('{"type":"event","id":"%s","name":"%s","ts":%d,"attrs":{"k":%d}}',
        id(s[1]), e[1], e[2], e[3]) }
    end
    if s[5] then
      ends[#ends + 1] = { s[5], string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}', id(s[1]), s[5]) }
    end
  end
  for _, e in ipairs(ends) do lines[#lines + 1] = e end
  -- records in time order (ends before starts at the same instant; ties keep
  -- the listed order)
  local recs = {}
  for i = 2, #lines do recs[#recs + 1] = { lines[i], i } end
  table.sort(recs, function(a, b)
    if a[1][1] ~= b[1][1] then return a[1][1] < b[1][1] end
    return a[2] < b[2]
  end)
  local out = { lines[1] }
  for _, r in ipairs(recs) do out[#out + 1] = r[1][2] end
  return table.concat(out, "\n") .. "\n"
end

local function write_tmp(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local function sink()
  local parts = {}
  return { write = function(self, ...)
    for _, p in ipairs({ ... }) do parts[#parts + 1] = p end
    return self
  end, text = function() return table.concat(parts) end }
end

local function run_export(spans, format, opts)
  local path = write_tmp(stream(spans))
  local out = sink()
  local ok, err = spanline.export(path, format, out, opts)
  os.remove(path)
  assert(ok, err)
  return out:text()
end

describe("export: chrome", function()
  -- P on lane 1 [1000, 100000]; X starts inside P but finishes after it
  -- (finished out of order) with its own child Y; Z on lane 2 is P's child.
  local spans = {
    { 1, nil, "P", 1000, 100000, 1, events = { { "tick", 5000, 7 } } },
    { 2, 1, "X", 10000, 120000, 1 },
    { 3, 2, "Y", 20000, 30000, 1 },
    { 4, 1, "Z", 2000, 3500, 2 },
    { 5, 1, "Q", 40000, 50000, 1 },
    { 6, nil, "open", 500, nil, 1 },
  }

  local function events(opts)
    local doc = cjson.decode(run_export(spans, "chrome", opts))
    return doc.traceEvents
  end

  it("writes complete events in microseconds with pid, tid = lane and metadata names", function()
    local evs = events()
    local by_name, meta = {}, {}
    for _, e in ipairs(evs) do
      if e.ph == "X" then by_name[e.name] = e end
      if e.ph == "M" then meta[#meta + 1] = e end
    end
    assert.are.equal(1.0, by_name.P.ts)          -- 1000 ns
    assert.are.equal(99.0, by_name.P.dur)
    assert.are.equal(1.5, by_name.Z.dur)         -- 1500 ns
    assert.are.equal(2, by_name.Z.tid)
    assert.are.equal(77, by_name.P.pid)
    assert.are.equal(1, by_name.P.tid)
    assert.are.equal(id(1), by_name.P.args["spanline.id"])
    assert.is_nil(by_name.open)                  -- open spans only on request
    local names = {}
    for _, m in ipairs(meta) do names[m.name .. ":" .. tostring(math.tointeger(m.tid))] = m.args.name end
    assert.are.equal("svc", names["process_name:nil"])
    assert.are.equal("lane 1", names["thread_name:1"])
    assert.are.equal("lane 2", names["thread_name:2"])
  end)

  it("keeps the text of nanosecond timestamps exact", function()
    local text = run_export({ { 1, nil, "a", 1764000000123456789, 1764000000123457790, 1 } }, "chrome")
    assert.truthy(text:find('"ts":1764000000123456.789,"dur":1.001', 1, true))
  end)

  it("nests the complete events of each tid (an out-of-order finish moves to an overflow track)", function()
    local evs = events({ include_open = true })
    local per_tid = {}
    for _, e in ipairs(evs) do
      if e.ph == "X" then
        per_tid[e.tid] = per_tid[e.tid] or {}
        table.insert(per_tid[e.tid], e)
      end
    end
    for tid, list in pairs(per_tid) do
      table.sort(list, function(a, b) return a.ts < b.ts or (a.ts == b.ts and a.dur > b.dur) end)
      local stack = {}
      for _, e in ipairs(list) do
        while #stack > 0 and stack[#stack].ts + stack[#stack].dur <= e.ts do table.remove(stack) end
        local top = stack[#stack]
        if top then
          assert.is_true(e.ts + e.dur <= top.ts + top.dur,
            string.format("tid %d: %s does not nest in %s", tid, e.name, top.name))
        end
        stack[#stack + 1] = e
      end
    end
    local tid_of = {}
    for _, e in ipairs(evs) do if e.ph == "X" then tid_of[e.name] = e.tid end end
    assert.are.equal(1, tid_of.P)
    assert.are_not.equal(1, tid_of.X)            -- outlives its parent on lane 1
    -- (Y, placed before X was known to overflow, stays on lane 1 inside P)
    assert.are.equal(1, tid_of.Q)
  end)

  it("writes span events as instant events on the span's track, open spans on request", function()
    local evs = events({ include_open = true })
    local tick, open
    for _, e in ipairs(evs) do
      if e.ph == "i" then tick = e end
      if e.name == "open" then open = e end
    end
    assert.are.equal("tick", tick.name)
    assert.are.equal(5.0, tick.ts)
    assert.are.equal(1, tick.tid)
    assert.are.equal(7, tick.args.k)
    assert.is_true(open.args["spanline.open"])
    assert.are.equal(0.5, open.ts)
    assert.are.equal(119.5, open.dur)            -- to the last timestamp seen
  end)
end)

describe("export: folded", function()
  it("sums self time per stack (hand-computed)", function()
    -- A [0,100] with children B [10,40] and C [30,60] (lane 2); D [15,25] in B;
    -- a second A [200,210]; an open span is left out; ';' leaves names.
    -- (Times from 1000 ns on: a zero timestamp reads as absent.)
    local t = 1000
    local text = run_export({
      { 1, nil, "A", t + 0, t + 100, 1 },
      { 2, 1, "B", t + 10, t + 40, 1 },
      { 3, 1, "C", t + 30, t + 60, 2 },
      { 4, 2, "D", t + 15, t + 25, 1 },
      { 5, nil, "A", t + 200, t + 210, 1, trace = 5 },
      { 6, nil, "still open", t + 300, nil, 1, trace = 6 },
      { 7, nil, "a;b", t + 400, t + 404, 1, trace = 7 },
    }, "folded")
    -- A: 100 - |[10,60]| = 50, plus 10 from the second A; B: 30 - 10; C: 30; D: 10
    assert.are.equal(table.concat({
      "A 60", "A;B 20", "A;B;D 10", "A;C 30", "a b 4", "" }, "\n"), text)
  end)
end)

describe("export: otlp", function()
  local spans = {
    { 1, nil, "root", 1000, 9000, 1 },
    { 2, 1, "db", 2000, 3000, 1, events = { { "retry", 2500, 2 } } },
    { 3, 1, "cache", 4000, 5000, 2 },
  }

  it("writes one OTLP/HTTP JSON request per line, from a path", function()
    local text = run_export(spans, "otlp-json", { batch = 2 })
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
    assert.are.equal(2, #lines)   -- 3 spans, 2 per request
    local names = {}
    for _, req in ipairs(lines) do
      local rs = req.resourceSpans[1]
      assert.are.equal("service.name", rs.resource.attributes[1].key)
      assert.are.equal("svc", rs.resource.attributes[1].value.stringValue)
      assert.are.equal("spanline", rs.scopeSpans[1].scope.name)
      for _, s in ipairs(rs.scopeSpans[1].spans) do names[#names + 1] = s.name end
    end
    table.sort(names)
    assert.are.same({ "cache", "db", "root" }, names)
    assert.truthy(text:find('"startTimeUnixNano":"2000","endTimeUnixNano":"3000"', 1, true))
    assert.truthy(text:find('"events":[{"timeUnixNano":"2500","name":"retry","attributes":[{"key":"k",'
      .. '"value":{"intValue":"2"}}]}]', 1, true))
  end)

  it("exports the spans of a filtered query (their records)", function()
    local path = write_tmp(stream(spans))
    local q = require("spanline.query").open(path, { raw = true }):spans()
      :where(function(s) return s.name ~= "db" end)
    local out = sink()
    assert(spanline.export(q, "otlp-json", out))
    os.remove(path)
    local text = out:text()
    assert.falsy(text:find('"name":"db"', 1, true))
    assert.truthy(text:find('"name":"root"', 1, true))
    assert.truthy(text:find('"name":"cache"', 1, true))
    assert.truthy(text:find('"parentSpanId":"' .. id(1):sub(17) .. '"', 1, true))
  end)

  it("needs the records of a spans query", function()
    local q = require("spanline.query").from_spans({ { id = id(1), name = "x" } })
    local ok, msg = spanline.export(q, "otlp-proto", sink())
    assert.is_nil(ok)
    assert.truthy(msg:find("raw = true", 1, true))
  end)
end)

describe("export: formats", function()
  it("lists the formats beside it and refuses unknown ones", function()
    local formats = export.formats()
    assert.truthy(table.concat(formats, " "):find("chrome", 1, true))
    assert.truthy(table.concat(formats, " "):find("folded", 1, true))
    local ok, msg, code = spanline.export("/nonexistent", "nope", sink())
    assert.is_nil(ok)
    assert.are.equal("unknown format 'nope'", msg)
    assert.are.equal("EINVAL", code)
    ok, msg = spanline.export("/nonexistent/file.jsonl", "chrome", sink())
    assert.is_nil(ok)
    assert.truthy(msg:find("file.jsonl", 1, true))
  end)

  it("raises on misuse, naming the argument", function()
    assert.has_error(function() spanline.export("x", 42) end,
      "bad argument #2 to 'export' (format string expected, got number)")
    assert.has_error(function() spanline.export(42, "chrome", sink()) end,
      "bad argument #1 to 'export' (path or query expected, got number)")
  end)
end)
