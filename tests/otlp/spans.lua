-- spans.lua OUT N [OUTPUT_SPEC] [PAUSE_EVERY] [PAUSE_MS]: N small spans
-- (nested in pairs) written by the real tracer to OUT, or straight to a
-- collector when OUTPUT_SPEC is "otlp+http://..."; with PAUSE_EVERY it
-- flushes and sleeps PAUSE_MS after every PAUSE_EVERY spans (a growing
-- file for --follow). Prints each span id (32 hex digits) on stdout.
local spanline = require("spanline")
local out, n = arg[1], tonumber(arg[2])
local spec = arg[3] ~= "" and arg[3] or nil
local every, pause = tonumber(arg[4] or ""), tonumber(arg[5] or "")
local uv = (every and pause) and require("luv") or nil
local tracer = assert(spanline.tracer{ output = spec or out, service = "load" })
local made = 0
while made < n do
  local parent = tracer:start("batch", { i = made })
  io.write(parent:id(), "\n")
  made = made + 1
  if made < n then
    local child = tracer:start("item", { i = made, blob = string.rep("x", 40) })
    io.write(child:id(), "\n")
    child:finish()
    made = made + 1
  end
  parent:finish()
  if uv and made % every < 2 then
    tracer:flush()
    uv.sleep(pause)
  end
end
tracer:close()
