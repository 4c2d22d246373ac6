-- default.lua: the process-wide default tracer, used by `spanline run` and
-- by instrumentation given no tracer. Its own module so that spanline and
-- spanline.instrument both reach it without requiring each other.

local core = require("spanline.core")

local default = {}

local current

-- The default tracer, created on first use when none was set: output to
-- $SPANLINE_OUTPUT if set, else stderr.
function default.get()
  if current == nil then
    local path = os.getenv("SPANLINE_OUTPUT")
    local t, err
    if path and path ~= "" then t, err = core.tracer{ output = path } else t = core.tracer{ output = io.stderr } end
    if not t then error("spanline.default: " .. tostring(err), 2) end
    current = t
  end
  return current
end

-- Sets (or with nil, forgets) the default tracer; returns the previous one.
function default.set(tracer)
  local mt = type(tracer) == "userdata" and getmetatable(tracer)
  if tracer ~= nil and not (mt and mt.__index == core.tracer_methods) then
    error("bad argument #1 to 'set_default' (spanline.tracer expected, got " .. type(tracer) .. ")", 2)
  end
  local previous = current
  current = tracer
  return previous
end

return default
