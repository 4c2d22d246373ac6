-- bench_lua.lua: what the Lua tracer API costs, against a hand-written
-- pure-Lua tracer (tables + lua-cjson) in the same run.
--
-- Prints `bench <name> key=value` lines (tests/bench/run collects them).
-- Usage: lua5.4 tests/bench/bench_lua.lua [N]   (LUA_PATH/LUA_CPATH as for the tests)
local spanline = require("spanline")
local core = require("spanline.core")
local cjson = require("cjson")

local N = tonumber(arg and arg[1]) or 1000000
local now = core.now
local dir = os.getenv("TMPDIR") or "/tmp"
local path = string.format("%s/spanline-bench-lua-%d.jsonl", dir, math.random(1, 1e9))

-- Best of `runs`: wall ns and calling-thread CPU ns (the CPU figure is the
-- one to trust on a loaded machine; a background writer thread, if the core
-- runs one, is not in it).
local cpu = core.thread_cpu_ns
local function best_of(runs, fn)
  local best, best_cpu = math.huge, math.huge
  for _ = 1, runs do
    collectgarbage("collect")
    local t0, c0 = now(), cpu()
    fn()
    local dt, dc = now() - t0, cpu() - c0
    if dt < best then best = dt end
    if dc < best_cpu then best_cpu = dc end
  end
  return best, best_cpu
end

local function report(name, key, value, cpu_value)
  print(string.format("bench %s %s=%.1f cpu_%s=%.1f", name, key, value, key, cpu_value))
end

-- A tracer on a fresh file, unlinked at once: the data still goes through
-- write() to a real file, and the disk space comes back at close.
local function file_tracer(opts)
  os.remove(path)
  opts = opts or {}
  opts.output = path
  local tracer = assert(spanline.tracer(opts))
  os.remove(path)
  return tracer
end

-- 1. tracer:start(name) + span:finish() to a file (flush included).
local start_finish
do
  local tracer = file_tracer()
  local ns, cns = best_of(3, function()
    for _ = 1, N do
      local span = tracer:start("work")
      span:finish()
    end
    tracer:flush()
  end)
  start_finish = cns / N
  report("lua.start_finish", "ns_per_span", ns / N, cns / N)

  -- Bursts that fit the core's buffer, flushed between bursts (untimed):
  -- what a span costs the calling thread when encoding and writing happen
  -- elsewhere (compare c.span_start_end_attr best_burst_ns_per_span).
  local burst = 1000
  local best_burst = math.huge
  for _ = 1, 3 do
    local total = 0
    for _ = 1, N // burst do
      tracer:flush()
      local c0 = cpu()
      for _ = 1, burst do tracer:start("work"):finish() end
      total = total + (cpu() - c0)
    end
    if total < best_burst then best_burst = total end
  end
  print(string.format("bench lua.start_finish_burst cpu_ns_per_span=%.1f burst=%d",
                      best_burst / (N // burst * burst), burst))

  tracer:close()
  tracer = file_tracer()
  local ns_attr, cns_attr = best_of(3, function()
    local attrs = { n = 1 }
    for i = 1, N do
      attrs.n = i
      local span = tracer:start("work", attrs)
      span:finish()
    end
    tracer:flush()
  end)
  report("lua.start_finish_1attr", "ns_per_span", ns_attr / N, cns_attr / N)

  -- the same with Lua's generational collector (short-lived userdata are
  -- cheaper to collect there): a figure for users, not the budget line
  tracer:close()
  tracer = file_tracer()
  collectgarbage("generational")
  local ns_gen, cns_gen = best_of(3, function()
    for _ = 1, N do
      local span = tracer:start("work")
      span:finish()
    end
    tracer:flush()
  end)
  collectgarbage("incremental")
  report("lua.start_finish_generational_gc", "ns_per_span", ns_gen / N, cns_gen / N)

  tracer:close()
  tracer = file_tracer()
  -- nested: a child of the current span (context lookup + parent)
  local outer = tracer:start("outer")
  local ns_child, cns_child = best_of(3, function()
    for _ = 1, N do
      tracer:start("child"):finish()
    end
    tracer:flush()
  end)
  outer:finish()
  report("lua.start_finish_child", "ns_per_span", ns_child / N, cns_child / N)
  tracer:close()
  os.remove(path)
end

-- 2. traced(fn) overhead against a plain call.
do
  local tracer = file_tracer()
  local function f(x) return x end
  local g = tracer:traced("f", f)
  local plain, cplain = best_of(3, function()
    local s = 0
    for i = 1, N do s = s + f(i) end
    return s
  end)
  local wrapped, cwrapped = best_of(3, function()
    local s = 0
    for i = 1, N do s = s + g(i) end
    tracer:flush()
    return s
  end)
  report("lua.traced_overhead", "ns_per_call", (wrapped - plain) / N, (cwrapped - cplain) / N)

  -- the same under the generational collector (a figure for users)
  collectgarbage("generational")
  local gplain, gcplain = best_of(3, function()
    local s = 0
    for i = 1, N do s = s + f(i) end
    return s
  end)
  local gwrapped, gcwrapped = best_of(3, function()
    local s = 0
    for i = 1, N do s = s + g(i) end
    tracer:flush()
    return s
  end)
  collectgarbage("incremental")
  report("lua.traced_overhead_generational_gc", "ns_per_call", (gwrapped - gplain) / N,
         (gcwrapped - gcplain) / N)
  tracer:close()
  os.remove(path)
end

-- 3. unsampled spans (sample = 0): the cost of a span nobody records (a
-- root: a small object kept in the context; a child: nothing at all).
do
  local tracer = file_tracer{ sample = 0 }
  local ns, cns = best_of(3, function()
    for _ = 1, N do tracer:start("work"):finish() end
  end)
  report("lua.unsampled", "ns_per_span", ns / N, cns / N)
  local root = tracer:start("unsampled root")
  local ns_child, cns_child = best_of(3, function()
    for _ = 1, N do tracer:start("work"):finish() end
  end)
  root:finish()
  report("lua.unsampled_child", "ns_per_span", ns_child / N, cns_child / N)
  tracer:close()
  os.remove(path)
end

-- 4. Baseline: a hand-written tracer: spans as tables, random hex ids,
-- os.clock timestamps, start and end records encoded with cjson.
local baseline
do
  local f = assert(io.open(path, "w"))
  f:setvbuf("full", 1 << 16)
  local random, format, clock, encode = math.random, string.format, os.clock, cjson.encode
  local function new_id()
    return format("%08x%08x%08x%08x", random(0, 0x7fffffff), random(0, 0x7fffffff),
                  random(0, 0x7fffffff), random(0, 0x7fffffff))
  end
  local stack = {}
  local function start(name)
    local parent = stack[#stack]
    local span = { id = new_id(), name = name, ts = clock() * 1e9,
                   trace = parent and parent.trace, parent = parent and parent.id }
    span.trace = span.trace or span.id
    f:write(encode({ type = "start", id = span.id, trace = span.trace, parent = span.parent,
                     name = name, ts = span.ts, lane = 1 }), "\n")
    stack[#stack + 1] = span
    return span
  end
  local function finish(span)
    stack[#stack] = nil
    f:write(encode({ type = "end", id = span.id, ts = clock() * 1e9, status = "ok" }), "\n")
  end
  local n = N // 4
  local ns, cns = best_of(3, function()
    for _ = 1, n do finish(start("work")) end
    f:flush()
  end)
  f:close()
  os.remove(path)
  baseline = cns / n
  report("lua.baseline_cjson", "ns_per_span", ns / n, cns / n)
end

-- ratio of calling-thread CPU figures (robust to other load on the machine)
print(string.format("bench lua.ratio_baseline_over_start_finish=%.1f", baseline / start_finish))
