-- instrument/init.lua: tracing a program without editing it. The entry
-- points (spanline's init.lua delegates to them, so argument numbers in
-- error messages are those of tracer:instrument(target, opts) and friends):
--   instrument(tracer, target, opts)   wrap a table's functions  (tables.lua)
--   lifecycle(tracer, target, opts)    a span per object's life  (lifecycle.lua)
--   instrument_require(pattern, tracer) modules as they load     (require.lua)
-- registry.lua holds the one wrapper -> original registry they share.

local registry = require("spanline.instrument.registry")

return {
  instrument = require("spanline.instrument.tables").instrument,
  lifecycle = require("spanline.instrument.lifecycle").lifecycle,
  instrument_require = require("spanline.instrument.require").instrument_require,
  original = registry.original,
  is_wrapper = registry.is_wrapper,
  check_pattern = registry.check_pattern,
}
