-- fuzz_properties_spec.lua: spanline's built-in properties run against the
-- real tracer (spanline.core), and a deliberately broken tracer is caught.

local fuzz = require("spanline.fuzz")
local props = fuzz.properties
local program = fuzz.program

local function check(name, seed, runs, extra)
  local p = props.get(name)
  assert(p, "no property " .. name)
  local o = { seed = seed, runs = runs or 60, max_size = 30, print = false, name = name }
  for k, v in pairs(extra or {}) do o[k] = v end
  return fuzz.check(props.generator(p.gen_opts and { kinds = p.gen_opts.kinds }), p.check, o)
end

local function with_api(api, fn)
  props.api = api
  local ok, a, b = pcall(fn)
  props.api = nil
  if not ok then error(a, 0) end
  return a, b
end

describe("built-in properties", function()
  for _, p in ipairs(props.list) do
    it(p.name .. " holds (seeds 1..3)", function()
      for seed = 1, 3 do
        local ok, res = check(p.name, seed)
        if not ok then
          error(string.format("%s failed (seed %d): %s\n%s", p.name, seed, res.error, fuzz.show(res.value)))
        end
      end
    end)
  end

  it("lists every property the issue asks for", function()
    for _, name in ipairs{ "ends_have_starts", "nesting", "ids", "parse", "jsonl_msgpack", "query_tree",
      "no_span_lost", "deterministic", "context" } do
      assert.truthy(props.get(name), name)
    end
  end)
end)

describe("a broken tracer is caught and shrunk", function()
  it("a span whose finish is lost shows up as abandoned (no_span_lost)", function()
    local api = setmetatable({ finish = function() end }, { __index = program.api })
    local ok, f = with_api(api, function() return check("no_span_lost", 5, 100) end)
    assert.is_false(ok)
    assert.same({ { op = "start", name = "a", attrs = {} }, { op = "finish" } }, f.value)
    assert.truthy(f.error:find("abandoned", 1, true))
  end)

  it("a child started as a root breaks the nesting property with two starts", function()
    local api = setmetatable({ start = function(tracer, name, attrs)
      return tracer:start(name, attrs, { root = true })
    end }, { __index = program.api })
    local ok, f = with_api(api, function() return check("nesting", 9, 100) end)
    assert.is_false(ok)
    assert.equal(2, #f.value)
    assert.equal("start", f.value[1].op)
    assert.equal("start", f.value[2].op)
  end)

  it("an error status written as ok is caught", function()
    local api = setmetatable({ error = function(span) span:finish() end }, { __index = program.api })
    local ok, f = with_api(api, function() return check("no_span_lost", 3, 100) end)
    assert.is_false(ok)
    assert.equal(2, #f.value)
    assert.equal("error", f.value[2].op)
  end)
end)

describe("the context property", function()
  it("fails, shrunk, when spawned coroutines do not inherit the current span", function()
    local spanline = require("spanline")
    local saved = spanline.coroutine.create
    spanline.coroutine.create = coroutine.create
    local pok, ok, f = pcall(check, "context", 4, 200)
    spanline.coroutine.create = saved
    assert.is_true(pok, ok)
    assert.is_false(ok)
    assert.same({ { op = "start", name = "a", attrs = {} }, { op = "spawn" }, { op = "resume", co = 2 },
      { op = "start", name = "a", attrs = {} } }, f.value)
    assert.is_true((check("context", 4, 50)))
  end)
end)

describe("context mode", function()
  it("tracer:with spans nest by context across yield, resume and raise", function()
    local ops = {
      { op = "call", name = "outer" },
      { op = "spawn" },
      { op = "resume", co = 2 },
      { op = "call", name = "in-co" },
      { op = "yield" },
      { op = "start", name = "back", attrs = {} },
      { op = "finish" },
      { op = "resume", co = 2 },
      { op = "raise", message = "boom" },
      { op = "yield" },
      { op = "return" },
    }
    local run = assert(props.execute(ops, { context = true }))
    local by_name, ends = {}, {}
    for _, r in ipairs(run.records) do
      if r.type == "start" then by_name[r.name] = r end
      if r.type == "end" then ends[r.id] = r end
    end
    assert.equal(by_name.outer.id, by_name["in-co"].parent) -- inherited by the spawned coroutine
    assert.equal(by_name.outer.id, by_name.back.parent)     -- not the suspended coroutine's span
    assert.equal("error", ends[by_name["in-co"].id].status)
    assert.equal("boom", ends[by_name["in-co"].id].error)
    assert.equal("ok", ends[by_name.outer.id].status)
    assert.is_true((props.get("context").check(ops)))
  end)
end)

describe("running programs", function()
  local ops = {
    { op = "start", name = "root", attrs = { k = "v" } },
    { op = "spawn" },
    { op = "start", name = "child", attrs = {} },
    { op = "event", name = "ev", attrs = { n = 1 } },
    { op = "resume", co = 2 },
    { op = "start", name = "in-co", attrs = {} },
    { op = "yield" },
    { op = "set", key = "rows", value = 10 },
    { op = "error", message = "boom" },
    { op = "abandon" },
  }

  it("JSONL output decodes to the model's spans", function()
    local run = assert(props.execute(ops))
    local starts, ends = {}, {}
    for _, r in ipairs(run.records) do
      if r.type == "start" then starts[#starts + 1] = r end
      if r.type == "end" then ends[r.id] = r end
    end
    assert.equal(3, #starts)
    assert.same({ "root", "child", "in-co" }, { starts[1].name, starts[2].name, starts[3].name })
    assert.equal(starts[1].id, starts[2].parent)
    assert.equal(starts[1].id, starts[3].parent) -- the spawned coroutine inherits root
    assert.equal("error", ends[starts[2].id].status)
    assert.equal("boom", ends[starts[2].id].error)
    assert.equal("abandoned", ends[starts[1].id].status)
    assert.equal("abandoned", ends[starts[3].id].status)
    assert.are_not.equal(starts[1].lane, starts[3].lane)
  end)

  it("MessagePack output decodes to the same records", function()
    local a = assert(props.execute(ops, { format = "jsonl" }))
    local b = assert(props.execute(ops, { format = "msgpack" }))
    assert.equal(#a.records, #b.records)
    for i = 1, #a.records do assert.is_true(props.same(a.records[i], b.records[i]), "record " .. i) end
    assert.equal(0xc0 & 0x80, (b.bytes:byte(1) & 0x80)) -- a map, not '{'
  end)

  it("the same seed gives the same ids; another seed other ids", function()
    local a = assert(props.execute(ops, { seed = 11 }))
    local b = assert(props.execute(ops, { seed = 11 }))
    local c = assert(props.execute(ops, { seed = 12 }))
    assert.equal(a.records[1].id, b.records[1].id)
    assert.are_not.equal(a.records[1].id, c.records[1].id)
  end)

  it("the msgpack decoder reads the types the encoder writes", function()
    local bytes = "\x84\xa1a\xcf\x00\x00\x00\x00\x00\x00\x01\x00\xa1b\xc4\x02\x01\xff\xa1c\x93\xc3\xc2\xc0"
      .. "\xa1d\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"
    local recs = props.decode_msgpack(bytes)
    assert.equal(1, #recs)
    assert.equal(256, recs[1].a)
    assert.same({ bin = "\1\255" }, recs[1].b)
    assert.same({ true, false }, recs[1].c) -- nil ends the Lua sequence
    assert.equal(1.5, recs[1].d)
    assert.has_error(function() props.decode_msgpack("\xa5ab") end)
  end)
end)
