-- span_loops.lua: N spans of one API form through a tracer writing a file,
-- nothing else: what tests/bench/instructions.sh counts with callgrind.
-- Usage: lua5.4 tests/bench/span_loops.lua N FORM
--   FORM: pair (start(name, k, v) + finish), enter (enter(name, k, v) +
--   leave), table (start(name, {k = v}) + finish), plain (start(name) +
--   finish), traced (a traced call), call (the plain call under traced)
local spanline = require("spanline")

local N = assert(tonumber(arg[1]), "usage: span_loops.lua N FORM")
local form = arg[2] or "pair"
local path = string.format("%s/spanline-loops-%d.jsonl", os.getenv("TMPDIR") or "/tmp", math.random(1, 1e9))
local tracer = assert(spanline.tracer{ output = path })
local function f(x) return x end

local forms = {
  pair = function() for _ = 1, N do tracer:start("db.query", "user", "ann"):finish() end end,
  enter = function()
    for _ = 1, N do
      tracer:enter("db.query", "user", "ann")
      tracer:leave()
    end
  end,
  table = function() for _ = 1, N do tracer:start("db.query", { user = "ann" }):finish() end end,
  plain = function() for _ = 1, N do tracer:start("db.query"):finish() end end,
  traced = function()
    local g = tracer:traced("f", f)
    for i = 1, N do g(i) end
  end,
  call = function() for i = 1, N do f(i) end end,
}
assert(forms[form], "unknown form " .. form)()
tracer:close()
os.remove(path)
