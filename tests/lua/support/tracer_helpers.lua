-- tracer_helpers.lua: small helpers shared by the tracer specs (tracer,
-- context, traced, abandoned, hooks, sampling).
local spanline = require("spanline")

local h = {}

-- A tracer writing to memory (records() decodes it).
function h.mem(opts)
  opts = opts or {}
  opts.output = opts.output or ":memory:"
  return assert(spanline.tracer(opts))
end

-- All records of type `kind` (or all).
function h.of(tracer, kind)
  local out = {}
  for _, r in ipairs(assert(tracer:records())) do
    if kind == nil or r.type == kind then out[#out + 1] = r end
  end
  return out
end

-- The start record of the span named `name` (the only one).
function h.start_of(tracer, name)
  local found
  for _, r in ipairs(h.of(tracer, "start")) do
    if r.name == name then
      assert(found == nil, "two spans named " .. name)
      found = r
    end
  end
  return found
end

-- The end record of span id `id`.
function h.end_of(tracer, id)
  local found
  for _, r in ipairs(h.of(tracer, "end")) do
    if r.id == id then
      assert(found == nil, "two end records for " .. id)
      found = r
    end
  end
  return found
end

-- Two full collections: the first finds unreachable span objects, the
-- second runs the sentinel that ends them (lpool.c).
function h.full_gc()
  collectgarbage()
  collectgarbage()
end

function h.tmpname(tag)
  return string.format("%s/spanline-%s-%d-%d.jsonl", os.getenv("TMPDIR") or "/tmp", tag,
                       math.random(1, 1e9), os.time())
end

function h.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a Lua snippet in a fresh lua5.4 with the test environment; returns
-- exit status, stdout, stderr.
function h.run_lua(code)
  local script = h.tmpname("script") .. ".lua"
  local errf = h.tmpname("stderr")
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local p = io.popen("lua5.4 " .. script .. " 2>" .. errf)
  local out = p:read("a")
  local ok, _, status = p:close()
  local err = h.read(errf)
  os.remove(script)
  os.remove(errf)
  return ok and 0 or status, out, err
end

return h
