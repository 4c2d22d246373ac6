-- context.lua: the current span of each coroutine, and coroutines that
-- inherit it.
--
-- The per-coroutine stacks live in C (spanline.core, bindings/lua/lcontext.c):
-- tracer:start pushes the new span on the running coroutine's stack,
-- finish removes it from wherever it is (finishing a span that is not on top
-- leaves the spans above it current). The stack holds spans weakly: a span
-- nobody references any more is collected and ended as "abandoned". This
-- module adds coroutine.create/wrap variants whose coroutine starts with the
-- creator's current span as its parent, and an opt-in patch of the global
-- coroutine library with them.

local core = require("spanline.core")

local context = {}

local co_create = core.coroutine_create
local resume, close = coroutine.resume, coroutine.close

-- The current span of the running coroutine (nil when none).
context.current = core.current

-- The lane (small integer naming the coroutine on start records; main: 1).
context.lane = core.lane

-- coroutine.create(fn), and the new coroutine's spans have the current span
-- of the creating coroutine as their parent (also after it yields and is
-- resumed from anywhere).
function context.create(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'create' (function expected, got " .. type(fn) .. ")", 2)
  end
  return co_create(fn)
end

local function wrap_results(co, ok, ...)
  if ok then return ... end
  local err = ...
  close(co)
  if type(err) == "string" then error(err, 2) end  -- like coroutine.wrap: position of the caller
  error(err, 0)
end

-- coroutine.wrap(fn) with the same inheritance as context.create.
function context.wrap(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'wrap' (function expected, got " .. type(fn) .. ")", 2)
  end
  local co = co_create(fn)
  return function(...)
    return wrap_results(co, resume(co, ...))
  end
end

local saved -- the original coroutine.create/wrap while patched

-- Makes the global coroutine.create/wrap inherit the current span. Returns
-- true if it patched, false if already patched.
function context.patch()
  if saved then return false end
  saved = { create = coroutine.create, wrap = coroutine.wrap }
  coroutine.create = context.create
  coroutine.wrap = context.wrap
  return true
end

-- Restores the originals (only where our versions are still installed).
function context.unpatch()
  if not saved then return false end
  if coroutine.create == context.create then coroutine.create = saved.create end
  if coroutine.wrap == context.wrap then coroutine.wrap = saved.wrap end
  saved = nil
  return true
end

function context.patched()
  return saved ~= nil
end

return context
