-- instrument/registry.lua: what every instrumentation entry point shares:
-- the two ways a function is traced, undo logs, and the checks of arguments.
--
-- Hook mode (the default) replaces nothing: the function is added to the
-- set a call/return hook in C recognises by identity (bindings/lua/lhook.c).
-- Wrap mode replaces it with a `traced` wrapper: every wrapper is registered
-- in a weak table wrapper -> original, which makes undo exact (the original
-- value goes back), prevents double wrapping, and gives a function reached
-- under several names one wrapper, so `m.a == m.b` stays true.

local core = require("spanline.core")

local registry = {}

-- wrapper -> original function, for every wrapper this module ever made.
local originals = setmetatable({}, { __mode = "k" })
-- original -> its one wrapper, while that wrapper is in use somewhere.
local wrapper_of = setmetatable({}, { __mode = "kv" })

-- Tables that recursion never enters: the standard library and _G, since
-- tracing string.format or table.insert would trace the tracer itself.
local FORBIDDEN = setmetatable({}, { __mode = "k" })
for _, t in ipairs({ _G, string, table, math, io, os, coroutine, debug, utf8, package,
                     package.loaded, package.preload, package.searchers }) do
  FORBIDDEN[t] = true
end

local function is_spanline_module(name)
  return name == "spanline" or name:sub(1, 9) == "spanline."
end

-- The set of tables that are loaded modules: recursion leaves them to be
-- instrumented under their own name (or not at all).
local function loaded_modules()
  local set = {}
  for _, mod in pairs(package.loaded) do
    if type(mod) == "table" then set[mod] = true end
  end
  return set
end

-- Lua checks a pattern only as far as a match gets, so a bad one could
-- fail much later, inside some require. This walks it the way lstrlib.c
-- does and returns true, or nil and lstrlib's message.
function registry.check_pattern(p)
  local i, n, depth = 1, #p, 0
  while i <= n do
    local c = p:sub(i, i)
    if c == "%" then
      local d = p:sub(i + 1, i + 1)
      if d == "" then return nil, "malformed pattern (ends with '%')" end
      if d == "b" then
        if i + 3 > n then return nil, "malformed pattern (missing arguments to '%b')" end
        i = i + 4
      elseif d == "f" then
        if p:sub(i + 2, i + 2) ~= "[" then return nil, "missing '[' after '%f' in pattern" end
        i = i + 2
      else
        i = i + 2
      end
    elseif c == "[" then
      local j = i + 1
      if p:sub(j, j) == "^" then j = j + 1 end
      repeat                       -- the first character may be a literal ']'
        if j > n then return nil, "malformed pattern (missing ']')" end
        local cj = p:sub(j, j)
        j = j + 1
        if cj == "%" and j <= n then j = j + 1 end
      until p:sub(j, j) == "]"
      i = j + 1
    elseif c == "(" then
      depth = depth + 1
      i = i + 1
    elseif c == ")" then
      depth = depth - 1
      if depth < 0 then return nil, "invalid pattern capture" end
      i = i + 1
    else
      i = i + 1
    end
  end
  if depth ~= 0 then return nil, "unfinished capture" end
  return true
end

local function check_tracer(tracer, fname)
  if type(tracer) ~= "table" and type(tracer) ~= "userdata" then
    error("calling '" .. fname .. "' on bad self (tracer expected, got " .. type(tracer) .. ")", 3)
  end
end

-- Returns the function that a wrapper stands for, or the argument itself.
function registry.original(fn)
  return originals[fn] or fn
end

-- true when `fn` is a wrapper made by instrument() or lifecycle().
function registry.is_wrapper(fn)
  return originals[fn] ~= nil
end

-- The span name of a function traced in hook mode, or nil.
function registry.hooked(fn)
  return core.hook_name(fn)
end

-- true when calls of fn are traced, in either mode.
function registry.is_instrumented(fn)
  return originals[fn] ~= nil or core.hook_name(fn) ~= nil
end

-- The wrapper of fn (the one already made for it, if any: one function,
-- one wrapper, whatever the name it is reached under).
local function wrap(tracer, name, fn)
  local wrapper = wrapper_of[fn]
  if wrapper then return wrapper end
  wrapper = tracer:traced(name, fn)
  originals[wrapper] = fn
  wrapper_of[fn] = wrapper
  return wrapper
end

-- Hook mode: adds fn to the hook's set; false when it is traced already.
local function hook(tracer, name, fn)
  if originals[fn] then return false end
  return core.hook_add(fn, tracer, name)
end

-- "hook" (default) or "wrap"; raises naming the option to fname otherwise.
-- Hook mode needs a spanline tracer (the hook starts spans in C).
local function check_mode(tracer, opts, fname)
  local mode = opts and opts.mode or "hook"
  if mode ~= "hook" and mode ~= "wrap" then
    error("bad option 'mode' to '" .. fname .. "' (\"hook\" or \"wrap\" expected, got "
      .. (type(mode) == "string" and "'" .. mode .. "'" or type(mode)) .. ")", 3)
  end
  if mode == "hook" and type(tracer) ~= "userdata" then
    error("bad option 'mode' to '" .. fname .. "' (hook mode needs a spanline tracer)", 3)
  end
  return mode
end

-- Undo log: a list of {table, key, wrapper, previous}; restoring walks it
-- backwards and only touches slots that still hold our wrapper, so a value
-- the program replaced in the meantime is left alone. hooked: functions
-- this instrumentation added to the hook's set.
local function make_undo(log, hooked)
  local done = false
  return function()
    if done then return end
    done = true
    for i = #log, 1, -1 do
      local entry = log[i]
      local t, key, wrapper, previous = entry[1], entry[2], entry[3], entry[4]
      if rawget(t, key) == wrapper then rawset(t, key, previous) end
    end
    for i = #(hooked or {}), 1, -1 do core.hook_remove(hooked[i]) end
  end
end

registry.originals = originals
registry.FORBIDDEN = FORBIDDEN
registry.is_spanline_module = is_spanline_module
registry.loaded_modules = loaded_modules
registry.check_tracer = check_tracer
registry.wrap = wrap
registry.hook = hook
registry.check_mode = check_mode
registry.make_undo = make_undo

return registry
