-- view_open.lua: how fast `spanline view` opens a big file and stays usable.
--
-- usage: lua5.4 tests/bench/view_open.lua FILE.jsonl   (make one with gen_view.lua)
-- Drives the real app (reader, assembler, store, views, screen diff) with a
-- 120x40 terminal that only counts bytes, the same way app:run does: a
-- first slice of reading, the first frame, then slices until the end.
-- Prints the time to the first frame, to the fully loaded view, per-frame
-- times for scrolling, folding, search and the mode switch, and VmHWM.
-- CPU times are printed next to wall times: on a shared machine they are
-- the steadier figure.

local uv = require("luv")
local path = arg[1] or error("usage: view_open.lua FILE.jsonl")

local function ms(t0) return (uv.hrtime() - t0) / 1e6 end
local function vm(key)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. key .. ":%s+(%d+)")
    if v then return tonumber(v) // 1024 end
  end
end

local bytes = 0
local term = { size = function() return 120, 40 end, write = function(_, s) bytes = bytes + #s end }
local t0, c0 = uv.hrtime(), os.clock()
local store = require("spanline.view.store").new()
local src = assert(require("spanline.view.source").open(path, { store = store, follow = true }))
local app = require("spanline.view.app").new({ store = store, source = src, term = term })

app:pump(150)                   -- the first load tick of app:run
app:render()
local first, first_cpu = ms(t0), (os.clock() - c0) * 1000
local first_spans = store.counts.spans
local first_bytes = bytes
local last = uv.hrtime()
while app.loading do
  app:pump(40)
  if (uv.hrtime() - last) / 1e6 > 250 then app:render(); last = uv.hrtime() end
end
app:render()
local full, full_cpu = ms(t0), (os.clock() - c0) * 1000

local function timed(label, keys, reps)
  reps = reps or 1
  local t, c = uv.hrtime(), os.clock()
  bytes = 0
  for _ = 1, reps do
    for _, k in ipairs(keys) do app:key(k) end
    app:render()
  end
  local each, cpu = ms(t) / reps, (os.clock() - c) * 1000 / reps
  print(string.format("  %-36s %8.2f ms wall %8.2f ms cpu per frame, %5d bytes out", label, each, cpu, bytes // reps))
end

print(string.format("file: %s (%.0f MB), %d spans, %d records", path,
  (src.size or 0) / 1e6, store.counts.spans, store.records))
print(string.format("first frame:  %8.0f ms wall, %8.0f ms cpu (%d spans read by then, %d bytes drawn)",
  first, first_cpu, first_spans, first_bytes))
print(string.format("fully loaded: %8.0f ms wall, %8.0f ms cpu", full, full_cpu))
timed("scroll down one row (j)", { "j" }, 500)
timed("page down", { "pgdn" }, 100)
timed("jump to the end (G)", { "G" })
timed("jump to the start (g)", { "g" })
timed("fold/unfold the first trace", { "enter" }, 20)
timed("collapse all ([)", { "[" })
timed("expand all (])", { "]" })
timed("search 'handler.2' (first match)", { "/", "h", "a", "n", "d", "l", "e", "r", ".", "2", "enter" })
timed("next match (n)", { "n" }, 20)
timed("switch to time mode (t), first time", { "esc", "t" })
timed("scroll in time mode (j)", { "j" }, 500)
timed("switch back to logical (t)", { "t" })
print(string.format("VmHWM %d MB (peak resident), VmRSS %d MB", vm("VmHWM"), vm("VmRSS")))
