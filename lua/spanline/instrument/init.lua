-- instrument/init.lua: tracing a program without editing it. The entry
-- points (spanline's init.lua delegates to them, so argument numbers in
-- error messages are those of tracer:instrument(target, opts) and friends):
--   instrument(tracer, target, opts)   trace a table's functions (tables.lua)
--   lifecycle(tracer, target, opts)    a span per object's life  (lifecycle.lua)
--   instrument_require(pattern, tracer?, opts?) modules as they load (require.lua)
-- registry.lua holds what they share: the hook-mode set (bindings/lua/lhook.c)
-- and the one wrapper -> original registry of wrap mode; glob.lua the
-- syntax of module patterns.

local registry = require("spanline.instrument.registry")

return {
  instrument = require("spanline.instrument.tables").instrument,
  lifecycle = require("spanline.instrument.lifecycle").lifecycle,
  instrument_require = require("spanline.instrument.require").instrument_require,
  original = registry.original,
  is_wrapper = registry.is_wrapper,
  is_instrumented = registry.is_instrumented,
  check_pattern = registry.check_pattern,
  check_module_pattern = require("spanline.instrument.glob").check,
}
