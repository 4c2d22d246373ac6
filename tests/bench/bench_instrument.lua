-- bench_instrument.lua: the cost of calling an instrumented function against
-- the same call uninstrumented, in one run, spans written to a file.
--
-- Usage: lua5.4 tests/bench/bench_instrument.lua [CALLS] [OUTPUT]
-- (LUA_PATH / LUA_CPATH as for the tests). Prints:
--   bench instrument.call_overhead ns_per_call=<instrumented - plain> ratio=<instrumented / plain>
--     cpu_ns_per_call=... cpu_ratio=... (the same in calling-thread CPU time)
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
-- The calling thread's CPU time (cpu_ns_per_call) is reported as well: it
-- is what the program pays, and it is far less noisy on a loaded machine.
local now = spanline.now
local cpu = require("spanline.core").thread_cpu_ns

local function best_ns_per_call(m)
  local add = m.add
  local best, best_cpu = math.huge, math.huge
  for _ = 1, rounds do
    collectgarbage("collect")
    local t0, c0 = now(), cpu()
    for i = 1, calls do add(i) end
    tracer:flush()
    local dt, dc = (now() - t0) / calls, (cpu() - c0) / calls
    if dt < best then best = dt end
    if dc < best_cpu then best_cpu = dc end
  end
  return best, best_cpu
end

-- An unsampled tracer (sample = 0): the wrapper still runs, the span is the
-- shared no-op one.
local unsampled_tracer = assert(spanline.tracer{ output = output .. ".unsampled", sample = 0 })

local plain_mod, traced_mod, unsampled_mod = make_module(), make_module(), make_module()
local undo = instrument.instrument(tracer, traced_mod, { prefix = "bench." })
local undo_unsampled = instrument.instrument(unsampled_tracer, unsampled_mod, { prefix = "bench." })

best_ns_per_call(plain_mod)       -- warm-up
local plain, plain_cpu = best_ns_per_call(plain_mod)
local traced, traced_cpu = best_ns_per_call(traced_mod)
local unsampled, unsampled_cpu = best_ns_per_call(unsampled_mod)
undo()
undo_unsampled()
tracer:close()
unsampled_tracer:close()
os.remove(output .. ".unsampled")
if not arg[2] then os.remove(output) end

local function report(name, plain_ns, plain_cpu_ns, ns, cpu_ns)
  print(string.format("bench %s ns_per_call=%.1f ratio=%.1f cpu_ns_per_call=%.1f cpu_ratio=%.1f"
    .. " plain_ns=%.1f instrumented_ns=%.1f calls=%d", name, ns - plain_ns, ns / plain_ns,
    cpu_ns - plain_cpu_ns, cpu_ns / plain_cpu_ns, plain_ns, ns, calls))
end
report("instrument.call_overhead", plain, plain_cpu, traced, traced_cpu)
report("instrument.call_overhead_unsampled", plain, plain_cpu, unsampled, unsampled_cpu)
