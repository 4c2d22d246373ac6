-- bench_instrument.lua: the cost of calling an instrumented function against
-- the same call uninstrumented, in one run, spans written to a file.
--
-- Usage: lua5.4 tests/bench/bench_instrument.lua [CALLS] [OUTPUT]
-- (LUA_PATH / LUA_CPATH as for the tests). Prints:
--   bench instrument.call_overhead ns_per_call=<instrumented - plain> ratio=<instrumented / plain>
--     plain_ns=... instrumented_ns=... calls=...
-- Each figure is the best of several rounds, so a busy machine inflates it less.

local spanline = require("spanline")
local instrument = require("spanline.instrument")

local calls = math.tointeger(tonumber(arg[1] or "")) or 200000
local output = arg[2] or os.tmpname()
local rounds = 5

local tracer = assert(spanline.tracer{ output = output })

local function make_module()
  local m = { total = 0 }
  function m.add(x) m.total = m.total + x; return m.total end
  return m
end

local function best_ns_per_call(m)
  local add = m.add
  local best = math.huge
  for _ = 1, rounds do
    local t0 = os.clock()
    for i = 1, calls do add(i) end
    local dt = (os.clock() - t0) / calls * 1e9
    if dt < best then best = dt end
    tracer:flush()
  end
  return best
end

local plain_mod, traced_mod = make_module(), make_module()
local undo = instrument.instrument(tracer, traced_mod, { prefix = "bench." })

best_ns_per_call(plain_mod)       -- warm-up
local plain = best_ns_per_call(plain_mod)
local traced = best_ns_per_call(traced_mod)
undo()
tracer:close()
if not arg[2] then os.remove(output) end

print(string.format(
  "bench instrument.call_overhead ns_per_call=%.1f ratio=%.1f plain_ns=%.1f instrumented_ns=%.1f calls=%d",
  traced - plain, traced / plain, plain, traced, calls))
