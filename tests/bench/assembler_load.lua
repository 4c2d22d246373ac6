-- assembler_load.lua: reader + the C assembler keeping everything (as the
-- viewer uses it) over a big file: CPU seconds and peak memory (VmHWM).
--
-- usage: lua5.4 tests/bench/assembler_load.lua FILE.jsonl   (make one with gen_view.lua)
-- Also prints the reader-only CPU so the assembler's share is visible.

local core = require("spanline.core")
local path = arg[1] or error("usage: assembler_load.lua FILE.jsonl")

local function vm(key)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. key .. ":%s+(%d+)")
    if v then return tonumber(v) // 1024 end
  end
end

local c0 = os.clock()
local r = assert(core.reader(path))
local n = 0
while r:next() do n = n + 1 end
local read_cpu = os.clock() - c0
collectgarbage()

local c1 = os.clock()
r = assert(core.reader(path))
local asm = core.assembler({ mode = "keep" })
asm:feed(r)
local cpu = os.clock() - c1
local spans = asm:stats().spans
collectgarbage()
print(string.format("%d records, %d spans: reader alone %.2f s cpu; reader+assembler %.2f s cpu; " ..
  "VmHWM %d MB, Lua heap after GC %d MB", n, spans, read_cpu, cpu, vm("VmHWM"),
  collectgarbage("count") // 1024))
