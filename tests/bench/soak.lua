-- soak.lua: many spans through one tracer, the process's resident memory
-- sampled as it goes: after warm-up it must stay flat (no leak in the span
-- pool, the context stacks, the rings, the writer's batches).
--
-- The mix per 100 spans: started and finished spans with attributes,
-- children, events, traced calls, an error, spans left to the garbage
-- collector (abandoned), spans on coroutines. Output: /dev/null through the
-- background writer (a character device: the pipe path, pieces of at most
-- PIPE_BUF bytes).
--
-- usage: lua5.4 soak.lua [SPANS (default 1e8)] [SAMPLES (default 50)]
-- prints `bench soak spans=... rss_warm_kb=... rss_end_kb=... rss_max_kb=...
-- growth_kb=... ns_per_span=...` and one `soak ...` line per sample.
local spanline = require("spanline")

local total = math.tointeger(tonumber(arg[1] or "1e8"))
local samples = math.tointeger(tonumber(arg[2] or "50"))
assert(total and total >= 1000 and samples and samples >= 2, "usage: soak.lua [SPANS] [SAMPLES]")

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local _, resident = f:read("n", "n")
  f:close()
  return resident * 4
end

local tracer = assert(spanline.tracer{ output = "/dev/null", service = "soak" })
local work = tracer:traced("work", function(x) return x + 1 end)
local co_body = function(n)
  local s = tracer:start("co", { n = n })
  coroutine.yield()
  s:finish()
end

-- 100 spans
local function batch(i)
  local root = tracer:start("root", { i = i, kind = "batch" })
  for j = 1, 90 do
    local s = tracer:start("child", { j = j })
    if j % 10 == 0 then s:event("tick", { j = j }) end
    s:finish()
  end
  for _ = 1, 5 do work(i) end
  tracer:start("failing"):finish("error", "boom")
  tracer:start("forgotten")   -- abandoned when collected
  local co = coroutine.create(co_body)
  coroutine.resume(co, i)
  coroutine.resume(co)
  root:finish()
end

local per_sample = total // samples
local done, warm, max = 0, nil, 0
local t0 = os.clock()
for k = 1, samples do
  local target = k * per_sample
  local i = done
  while done < target do
    i = i + 1
    batch(i)
    done = done + 100
  end
  collectgarbage("step", 0)
  local rss = rss_kb()
  if k == math.max(1, samples // 10) then warm = rss end   -- after 10% of the run
  if rss > max then max = rss end
  io.stdout:write(string.format("soak spans=%d rss_kb=%d\n", done, rss))
  io.stdout:flush()
end
local cpu = os.clock() - t0
local st = tracer:stats()
tracer:close()
local final = rss_kb()
io.stdout:write(string.format(
  "bench soak spans=%d rss_warm_kb=%d rss_end_kb=%d rss_max_kb=%d growth_kb=%d ns_per_span=%.0f dropped=%d abandoned=%d\n",
  done, warm, final, max, max - warm, cpu / done * 1e9, st.dropped, st.abandoned))
