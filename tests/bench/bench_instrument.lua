-- bench_instrument.lua: what instrumentation costs a call, in both modes, in
-- one run, spans written to a file.
--
-- Usage: lua5.4 tests/bench/bench_instrument.lua [CALLS] [OUTPUT]
-- (LUA_PATH / LUA_CPATH as for the tests). Prints, per case, the cost over
-- the same plain call (ns_per_call = traced - plain) and the ratio, in wall
-- time and in the calling thread's CPU time (cpu_*, less noisy):
--   bench instrument.call_overhead ...            wrap mode: a call through the wrapper
--   bench instrument.call_overhead_unsampled ...  the same with sample = 0
--   bench instrument.hook_call_overhead ...       hook mode: an instrumented call
--   bench instrument.hook_plain_lua_call ...      hook set: a call of an uninstrumented Lua function
--   bench instrument.hook_plain_c_call ...        hook set: a call of a C function (math.abs)
-- Each figure is the best of several rounds (flush included), so a busy
-- machine inflates it less.
--
-- Instruction counts (deterministic on a noisy machine): `--case NAME N`
-- only makes N calls of one case (plain, wrap, hook, hook_plain, c, hook_c);
-- run it under `valgrind --tool=callgrind` with N and with 0, and divide the
-- difference of the totals by N (all threads: the writer's encoding too).

local spanline = require("spanline")
local core = require("spanline.core")
local instrument = require("spanline.instrument")

if arg[1] == "--case" then
  local case, n = arg[2], math.tointeger(tonumber(arg[3] or "")) or 0
  local path = os.tmpname()
  local t = assert(spanline.tracer{ output = path })
  local m, p = { total = 0 }, { total = 0 }
  function m.add(x) m.total = m.total + x; return m.total end
  function p.add(x) p.total = p.total + x; return p.total end
  local abs = math.abs
  local fns = {
    plain = p.add, wrap = m.add, hook = m.add, hook_plain = p.add,
    c = function(i) return abs(i) end, hook_c = function(i) return abs(i) end,
  }
  local f = assert(fns[case], "unknown case")
  if case ~= "plain" and case ~= "c" then
    instrument.instrument(t, m, { mode = case == "wrap" and "wrap" or "hook" })
    f = case == "wrap" and m.add or f
  end
  for i = 1, n do f(i) end
  t:close()
  os.remove(path)
  return
end

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
local cpu = core.thread_cpu_ns

local function best_ns_per_call(fn)
  local best, best_cpu = math.huge, math.huge
  for _ = 1, rounds do
    collectgarbage("collect")
    local t0, c0 = now(), cpu()
    for i = 1, calls do fn(i) end
    tracer:flush()
    local dt, dc = (now() - t0) / calls, (cpu() - c0) / calls
    if dt < best then best = dt end
    if dc < best_cpu then best_cpu = dc end
  end
  return best, best_cpu
end

local function report(name, plain_ns, plain_cpu_ns, ns, cpu_ns)
  print(string.format("bench %s ns_per_call=%.1f ratio=%.1f cpu_ns_per_call=%.1f cpu_ratio=%.1f"
    .. " plain_ns=%.1f instrumented_ns=%.1f calls=%d", name, ns - plain_ns, ns / plain_ns,
    cpu_ns - plain_cpu_ns, cpu_ns / plain_cpu_ns, plain_ns, ns, calls))
end

-- An unsampled tracer (sample = 0): the wrapper still runs, the span is the
-- shared no-op one.
local unsampled_tracer = assert(spanline.tracer{ output = output .. ".unsampled", sample = 0 })

local plain_mod, traced_mod, unsampled_mod, hooked_mod = make_module(), make_module(),
  make_module(), make_module()
local abs = math.abs
local function c_call(i) return abs(i) end

best_ns_per_call(plain_mod.add)       -- warm-up
local plain, plain_cpu = best_ns_per_call(plain_mod.add)
local c_plain, c_plain_cpu = best_ns_per_call(c_call)

-- wrap mode
local undo = instrument.instrument(tracer, traced_mod, { prefix = "bench.", mode = "wrap" })
local undo_unsampled = instrument.instrument(unsampled_tracer, unsampled_mod,
  { prefix = "bench.", mode = "wrap" })
local traced, traced_cpu = best_ns_per_call(traced_mod.add)
local unsampled, unsampled_cpu = best_ns_per_call(unsampled_mod.add)
undo()
undo_unsampled()

-- hook mode: the hook sees every call while it is set, traced or not
local undo_hook = instrument.instrument(tracer, hooked_mod, { prefix = "bench.", mode = "hook" })
local hooked, hooked_cpu = best_ns_per_call(hooked_mod.add)
local lua_set, lua_set_cpu = best_ns_per_call(plain_mod.add)
local c_set, c_set_cpu = best_ns_per_call(c_call)
undo_hook()

tracer:close()
unsampled_tracer:close()
os.remove(output .. ".unsampled")
if not arg[2] then os.remove(output) end

report("instrument.call_overhead", plain, plain_cpu, traced, traced_cpu)
report("instrument.call_overhead_unsampled", plain, plain_cpu, unsampled, unsampled_cpu)
report("instrument.hook_call_overhead", plain, plain_cpu, hooked, hooked_cpu)
report("instrument.hook_plain_lua_call", plain, plain_cpu, lua_set, lua_set_cpu)
report("instrument.hook_plain_c_call", c_plain, c_plain_cpu, c_set, c_set_cpu)
