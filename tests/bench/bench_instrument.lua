-- bench_instrument.lua: the cost of calling an instrumented function against
-- the same call uninstrumented, in one run, spans written to a file.
--
-- Usage: lua5.4 tests/bench/bench_instrument.lua [CALLS] [OUTPUT]
-- (LUA_PATH / LUA_CPATH as for the tests). Prints:
--   bench instrument.call_overhead ns_per_call=<instrumented - plain> ratio=<instrumented / plain>
--     plain_ns=... instrumented_ns=... calls=...
--   bench instrument.call_overhead_unsampled ...   (the same with sample = 0)
-- Each figure is the best of several rounds (flush included), so a busy
-- machine inflates it less.

local spanline = require("spanline")
local instrument = require("spanline.instrument")

local calls = math.tointeger(tonumber(arg[1] or "")) or 200000
local output = arg[2] or string.format("%s/spanline-bench-instrument-%d.jsonl",
  os.getenv("TMPDIR") or "/tmp", math.random(1, 1e9))
local rounds = 5

local tracer = assert(spanline.tracer{ output = output })

local function make_module()
  local m = { total = 0 }
  function m.add(x) m.total = m.total + x; return m.total end
  return m
end

-- Wall clock (spanline.now, integer ns), not os.clock: the tracer's writer
-- thread would add its CPU time to os.clock's process total.
local now = spanline.now

local function best_ns_per_call(m)
  local add = m.add
  local best = math.huge
  for _ = 1, rounds do
    collectgarbage("collect")
    local t0 = now()
    for i = 1, calls do add(i) end
    tracer:flush()
    local dt = (now() - t0) / calls
    if dt < best then best = dt end
  end
  return best
end

-- An unsampled tracer (sample = 0): the wrapper still runs, the span is the
-- shared no-op one.
local unsampled_tracer = assert(spanline.tracer{ output = output .. ".unsampled", sample = 0 })

local plain_mod, traced_mod, unsampled_mod = make_module(), make_module(), make_module()
local undo = instrument.instrument(tracer, traced_mod, { prefix = "bench." })
local undo_unsampled = instrument.instrument(unsampled_tracer, unsampled_mod, { prefix = "bench." })

best_ns_per_call(plain_mod)       -- warm-up
local plain = best_ns_per_call(plain_mod)
local traced = best_ns_per_call(traced_mod)
local unsampled = best_ns_per_call(unsampled_mod)
undo()
undo_unsampled()
tracer:close()
unsampled_tracer:close()
os.remove(output .. ".unsampled")
if not arg[2] then os.remove(output) end

print(string.format(
  "bench instrument.call_overhead ns_per_call=%.1f ratio=%.1f plain_ns=%.1f instrumented_ns=%.1f calls=%d",
  traced - plain, traced / plain, plain, traced, calls))
print(string.format(
  "bench instrument.call_overhead_unsampled ns_per_call=%.1f ratio=%.1f plain_ns=%.1f instrumented_ns=%.1f calls=%d",
  unsampled - plain, unsampled / plain, plain, unsampled, calls))
