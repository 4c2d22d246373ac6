-- spanline: the Lua tracer API.
--
--   local spanline = require("spanline")
--   local tracer = spanline.tracer{ output = "spans.jsonl", service = "api" }
--   local span = tracer:start("load", { file = path })   -- parent: the current span
--   span:event("cache miss", { key = k }); span:set("rows", 10); span:finish()
--   local fetch = tracer:traced("fetch", function(url) ... end)
--   tracer:with("batch", function() ... end)
--
-- Tracers and spans are userdata of spanline.core (bindings/lua/): their
-- methods are C functions, so the hot path runs no Lua. This file adds the
-- pieces that are not on the hot path: the default tracer, coroutine
-- helpers (spanline.context), tracer:records() for ":memory:" tracers, and
-- the instrumentation entry points (spanline.instrument).
--
-- Context: the current span is tracked per coroutine. tracer:start makes the
-- new span current in the running coroutine until it finishes; finishing a
-- span that is not on top of that stack removes it from wherever it is (the
-- spans above it stay current). The stack holds spans weakly: a span nobody
-- references is collected and ended as "abandoned". Coroutines made with
-- spanline.coroutine.create/wrap (or any coroutine after
-- spanline.patch_coroutines()) start under the creator's current span.
--
-- Sampling: spanline.tracer{sample = p} decides once per trace, at the root,
-- from the random tail of the root's trace id (its 62 random bits against
-- p * 2^62, so anyone holding the trace id can repeat the decision; ids are
-- deterministic with `seed`); a remote traceparent's sampled flag decides
-- for it. The root of an unsampled trace is a small
-- no-op span object that stays current like any span (and, dropped
-- unfinished, is collected like one); everything below it gets
-- spanline.noop, one shared span whose methods do nothing: no allocation,
-- no record. spanline.noop is also what a closed tracer hands out.
--
-- Seeded tracers (`seed = n`) write the attributes of a table in key order,
-- so with a `clock` too a run's output is byte-identical across processes.
--
-- Spans are cheap objects without a finalizer: the span's state lives in C
-- (bindings/lua/lspan.c), and once per collection cycle the spans whose object
-- was collected unfinished are ended as "abandoned". traced/with spans get
-- an object only when one is asked for (current(), active(), hooks).
--
-- Hooks: tracer:on("start"|"event"|"end", fn) -> unsubscribe. Start hooks
-- run right after the start record (attributes they set become an attr
-- record), end hooks right before the end record; errors in hooks are
-- counted (stats().hook_errors), reported once on stderr, and swallowed.
--
-- Output: a function output receives batches of whole records on the Lua
-- thread, at flush points (start/finish when the core flushed, flush(),
-- close()); records still buffered when the process exits without closing
-- the tracer are lost for it (path/fd outputs are flushed at exit).
--
-- Errors: misuse (wrong argument types, bad options) raises an error naming
-- the argument or option; run-time failures (a path that cannot be opened)
-- return nil, message, code.

local core = require("spanline.core")
local context = require("spanline.context")
local default = require("spanline.default")
local instrument = require("spanline.instrument")
local propagation = require("spanline.propagation")

local spanline = {
  version = core.version,
  core = core,
  noop = core.noop,            -- the shared span of unsampled traces
}

-- spanline.tracer{output=, format=, flush=, service=, host=, limits=,
-- interval=, sample=, seed=, clock=} -> tracer | nil, message, code
spanline.tracer = core.tracer

spanline.context = context
spanline.current = context.current
spanline.coroutine = { create = context.create, wrap = context.wrap }
spanline.patch_coroutines = context.patch
spanline.unpatch_coroutines = context.unpatch
spanline.now = core.now

-- W3C Trace Context (spanline/propagation.lua): extract(headers | string)
-- -> context for tracer:start's `parent`; inject(span | context, headers).
spanline.extract = propagation.extract
spanline.inject = propagation.inject

-- spanline.export(path_or_query, format, out?, opts?) -> true | nil, msg, code
-- (spanline/export/: otlp-json, otlp-proto, chrome, folded, ...), loaded on use.
function spanline.export(...)
  return require("spanline.export").run(...)
end

-- ===== the default tracer (spanline/default.lua) =====

spanline.default = default.get
spanline.set_default = default.set

-- ===== methods written in Lua (not on the hot path) =====

local methods = core.tracer_methods

-- Stream bytes (JSONL or MessagePack, told apart by the first byte) ->
-- records, through the core's reader: timestamps, lanes and integer
-- attributes stay Lua integers (lua-cjson would make them doubles).
-- Returns the records, or nil, message, code.
local function decode_records(text)
  local reader = core.reader_string(text, {})
  local out = {}
  while true do
    local rec, err = reader:next()
    if rec == nil then
      if err then return nil, err, "EPARSE" end
      break
    end
    out[#out + 1] = rec
  end
  return out
end
spanline.decode_jsonl = decode_records

-- tracer:records() -> array of records written so far (":memory:" tracers).
function methods.records(tracer)
  local text, err, code = tracer:output()
  if not text then return nil, err, code end
  return decode_records(text)
end

-- tracer:instrument(target, opts) -> undo (see spanline.instrument)
function methods.instrument(tracer, target, opts)
  return instrument.instrument(tracer, target, opts)
end

-- tracer:lifecycle(class_or_object, opts) -> undo
function methods.lifecycle(tracer, target, opts)
  return instrument.lifecycle(tracer, target, opts)
end

-- spanline.instrument_require(pattern, tracer?) -> undo
spanline.instrument_require = instrument.instrument_require

return spanline
