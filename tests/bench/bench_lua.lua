-- bench_lua.lua: what the Lua tracer API costs a program, its writer thread
-- included, against a lean hand-written pure-Lua tracer in the same run.
--
-- Method: R rounds; in each round every contender runs once (the order
-- rotates from round to round), N spans each, on a fresh tracer writing to a
-- file; the figure is the median over the rounds. For each run it measures
-- the whole process's CPU (os.clock: every thread, the writer's included,
-- also after it exits at close) and the calling thread's CPU
-- (CLOCK_THREAD_CPUTIME_ID); their difference is the writer thread. Wall
-- time is printed but is not the figure to trust on a shared machine.
--
-- Prints `bench <name> process_ns=... calling_ns=... writer_ns=... wall_ns=...`
-- (per span, or per call for traced) lines; tests/bench/run adds ratios.
-- Usage: lua5.4 tests/bench/bench_lua.lua [N [ROUNDS]]  (LUA_PATH/LUA_CPATH as for the tests)
local spanline = require("spanline")
local core = require("spanline.core")
local cjson = require("cjson")

local N = tonumber(arg and arg[1]) or 1000000
local ROUNDS = tonumber(arg and arg[2]) or 5
local dir = os.getenv("TMPDIR") or "/tmp"
local path = string.format("%s/spanline-bench-lua-%d.jsonl", dir, math.random(1, 1e9))
local thread_cpu, process_cpu, wall = core.thread_cpu_ns, os.clock, core.now

-- A tracer on a fresh file (removed after each run, untimed: freeing the
-- page cache of a removed file is no cost a traced program pays).
local function file_tracer(opts)
  opts = opts or {}
  opts.output = path
  return assert(spanline.tracer(opts))
end

-- ===== contenders: setup() -> run(n) -> teardown(), all timed together =====
-- Each returns the number of spans (or calls) it did; `minus` names a
-- contender whose per-item cost is subtracted (the plain call under traced).

local contenders, order = {}, {}
local function contender(name, c)
  c.name = name
  contenders[name] = c
  order[#order + 1] = name
end

-- spanline, one string attribute in a table literal (a new table per span,
-- as a program writes it)
contender("lua.start_finish_attr", { n = N, run = function(n)
  local tracer = file_tracer()
  for _ = 1, n do
    tracer:start("work", { user = "ann" }):finish()
  end
  tracer:close()
end })

-- spanline, the same attribute as two arguments (no table)
local has_pair = pcall(function()
  local t = assert(spanline.tracer{ output = ":memory:" })
  t:start("x", "k", "v"):finish()
  t:close()
end)
if has_pair then
  contender("lua.start_finish_pair", { n = N, run = function(n)
    local tracer = file_tracer()
    for _ = 1, n do
      tracer:start("work", "user", "ann"):finish()
    end
    tracer:close()
  end })
end

-- the same span with enter/leave: no span object to allocate and collect
contender("lua.enter_leave_pair", { n = N, run = function(n)
  local tracer = file_tracer()
  for _ = 1, n do
    tracer:enter("work", "user", "ann")
    tracer:leave()
  end
  tracer:close()
end })

contender("lua.start_finish", { n = N, run = function(n)
  local tracer = file_tracer()
  for _ = 1, n do
    tracer:start("work"):finish()
  end
  tracer:close()
end })

-- a child of the current span (context lookup + parent)
contender("lua.start_finish_child", { n = N, run = function(n)
  local tracer = file_tracer()
  local outer = tracer:start("outer")
  for _ = 1, n do
    tracer:start("child"):finish()
  end
  outer:finish()
  tracer:close()
end })

local function f(x) return x end
contender("lua.plain_call", { n = N, quiet = true, run = function(n)
  local s = 0
  for i = 1, n do s = s + f(i) end
  return s
end })

contender("lua.traced_overhead", { n = N, minus = "lua.plain_call", run = function(n)
  local tracer = file_tracer()
  local g = tracer:traced("f", f)
  local s = 0
  for i = 1, n do s = s + g(i) end
  tracer:close()
  return s
end })

-- unsampled spans (sample = 0): a root is a small object kept current
contender("lua.unsampled", { n = N, run = function(n)
  local tracer = file_tracer{ sample = 0 }
  for _ = 1, n do tracer:start("work"):finish() end
  tracer:close()
end })

-- The lean pure-Lua tracer: spans as tables, ids from math.random(0) (64
-- random bits) formatted as 32 hex digits, the start and end records as
-- reused tables encoded by lua-cjson, written to a file buffered in 64 KiB.
-- Its clock is luv's uv.hrtime() (clock_gettime(CLOCK_MONOTONIC) through the
-- vDSO, no system call) plus an epoch anchor read once: the cheapest clock a
-- pure-Lua program gets from a common library, and the same kind of read
-- spanline's C clock does (vDSO or TSC). Without luv, spanline.core's now()
-- (also a vDSO/TSC read) stands in; `clock=` says which. Its records carry
-- the same fields as spanline's. One difference favours it: cjson writes
-- the nanosecond ts with 14 significant digits (a lossy, shorter number).
local ok_uv, uv = pcall(require, "luv")
local clock_name = ok_uv and "luv.hrtime" or "spanline.now"
local lean_now
if ok_uv then
  local hrtime = uv.hrtime
  local anchor = os.time() * 1000000000 - hrtime()
  lean_now = function() return anchor + hrtime() end
else
  lean_now = core.now
end

contender("lua.lean_tracer", { n = N // 4, clock = clock_name, run = function(n)
  local f_out = assert(io.open(path, "w"))
  f_out:setvbuf("full", 1 << 16)
  local random, format, encode, now = math.random, string.format, cjson.encode, lean_now
  local stack, depth = {}, 0
  local srec = { type = "start", lane = 1 }
  local erec = { type = "end", status = "ok" }
  local function start(name, attrs)
    local parent = stack[depth]
    local id = format("%016x%016x", random(0), random(0))
    local span = { id = id, trace = parent and parent.trace or id }
    srec.id, srec.trace, srec.parent = id, span.trace, parent and parent.id
    srec.name, srec.ts, srec.attrs = name, now(), attrs
    f_out:write(encode(srec), "\n")
    depth = depth + 1
    stack[depth] = span
    return span
  end
  local function finish(span)
    stack[depth] = nil
    depth = depth - 1
    erec.id, erec.ts = span.id, now()
    f_out:write(encode(erec), "\n")
  end
  for _ = 1, n do finish(start("work", { user = "ann" })) end
  f_out:close()
end })

-- ===== the rounds =====

local results = {}
for _, name in ipairs(order) do results[name] = { process = {}, calling = {}, wall = {} } end

local function run_one(c)
  collectgarbage("collect")
  local w0, p0, t0 = wall(), process_cpu(), thread_cpu()
  c.run(c.n)
  local t1, p1, w1 = thread_cpu(), process_cpu(), wall()
  local r = results[c.name]
  r.process[#r.process + 1] = (p1 - p0) * 1e9 / c.n
  r.calling[#r.calling + 1] = (t1 - t0) / c.n
  r.wall[#r.wall + 1] = (w1 - w0) / c.n
  os.remove(path)
end

for round = 1, ROUNDS do
  for k = 0, #order - 1 do
    run_one(contenders[order[(round + k - 1) % #order + 1]])
  end
end

local function median(t)
  table.sort(t)
  local m = #t // 2
  if #t % 2 == 1 then return t[m + 1] end
  return (t[m] + t[m + 1]) / 2
end

local med = {}
for _, name in ipairs(order) do
  local r = results[name]
  med[name] = { process = median(r.process), calling = median(r.calling), wall = median(r.wall) }
end
for _, name in ipairs(order) do
  local c, m = contenders[name], med[name]
  local process, calling, w = m.process, m.calling, m.wall
  if c.minus then
    local b = med[c.minus]
    process, calling, w = process - b.process, calling - b.calling, w - b.wall
  end
  if not c.quiet then
    print(string.format("bench %s process_ns=%.1f calling_ns=%.1f writer_ns=%.1f wall_ns=%.1f n=%d rounds=%d%s",
                        name, process, calling, process - calling, w, c.n, ROUNDS,
                        c.clock and (" clock=" .. c.clock) or ""))
  end
end
os.remove(path)
