-- view_fake.lua: stores for the viewer's specs, built from records written
-- by hand with short names for ids ("a1", "w") mapped to hex ids, fed to
-- the real store (the C assembler); helpers take milliseconds from T0.
local fake = {}

local T0 = 1764000000000000000
fake.T0 = T0
fake.MS = 1000000

-- Short names <-> 32-hex ids (16 and 32 hex digits pass through).
local ids, names = {}, {}
function fake.id(name)
  if name == nil then return nil end
  if name:match("^%x+$") and (#name == 16 or #name == 32) then return name end
  local hex = ids[name]
  if not hex then
    local n = 0
    for _ in pairs(ids) do n = n + 1 end
    hex = string.format("f%031x", n + 1)
    ids[name], names[hex] = hex, name
  end
  return hex
end

-- The short name of a span (by ref) in a store.
function fake.name_of(store, ref)
  local hex = store:span(ref).id
  return names[hex] or hex
end

-- The ref of a span by its short name.
function fake.ref(store, name)
  return store:find(fake.id(name))
end

-- A store with helpers taking milliseconds from T0.
function fake.store()
  local store = require("spanline.view.store").new()
  local h = {}
  function h.start(id, parent, name, t, extra)
    local rec = { type = "start", id = fake.id(id), parent = fake.id(parent), name = name,
      ts = T0 + math.floor(t * fake.MS), lane = 1 }
    for k, v in pairs(extra or {}) do rec[k] = v end
    if rec.trace then rec.trace = fake.id(rec.trace) end
    if rec.attrs then
      local parts = {}
      for k, v in pairs(rec.attrs) do
        parts[#parts + 1] = string.format("%q:%s", k, type(v) == "string" and string.format("%q", v) or tostring(v))
      end
      rec.attrs_json, rec.attrs = "{" .. table.concat(parts, ",") .. "}", nil
    end
    store:add(rec)
  end
  function h.finish(id, t, status, err)
    store:add({ type = "end", id = fake.id(id), ts = T0 + math.floor(t * fake.MS), status = status or "ok", error = err })
  end
  function h.event(id, name, t, attrs)
    local json
    if attrs then
      local parts = {}
      for k, v in pairs(attrs) do parts[#parts + 1] = string.format("%q:%s", k, tostring(v)) end
      json = "{" .. table.concat(parts, ",") .. "}"
    end
    store:add({ type = "event", id = fake.id(id), name = name, ts = T0 + math.floor(t * fake.MS), attrs_json = json })
  end
  return store, h
end

-- The shop trace of tests/fixtures/view_basic.jsonl, by hand.
function fake.shop()
  local store, h = fake.store()
  h.start("a1", nil, "checkout", 0, { attrs = { user = "bob" } })
  h.start("a2", "a1", "db.query", 1); h.finish("a2", 4)
  h.start("a3", "a1", "http.get", 5)
  h.start("a4", "a3", "parse", 6); h.finish("a4", 7)
  h.event("a3", "retry", 6, { attempt = 2 })
  h.finish("a3", 9, "error", "timeout")
  for i = 1, 5 do h.start("r" .. i, "a1", "cache.get", 10 + i); h.finish("r" .. i, 10.5 + i) end
  h.start("w", "a1", "worker", 16, { lane = 2 })
  h.start("g", "a1", "gc'd", 17); h.finish("g", 18, "abandoned")
  h.finish("a1", 20)
  h.start("o", "zz", "orphan.job", 3, { trace = "t2" }); h.finish("o", 8)
  h.start("x", "00f067aa0ba902b7", "remote.handler", 2, { trace = "t3" }); h.finish("x", 12)
  return store, h
end

return fake
