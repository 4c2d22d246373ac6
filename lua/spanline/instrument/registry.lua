-- instrument/registry.lua: what every instrumentation entry point shares:
-- the one registry of wrappers, undo logs, and the checks of arguments.
--
-- Key idea: every wrapper is registered in a weak table wrapper -> original.
-- That one registry makes undo exact (the original value goes back, so
-- `target.f == original` after undo), prevents double wrapping (a function
-- that is already a wrapper is left alone) and costs nothing once a wrapper
-- is unreachable.

local registry = {}

-- wrapper -> original function, for every wrapper this module ever made.
local originals = setmetatable({}, { __mode = "k" })

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

local function wrap(tracer, name, fn)
  local wrapper = tracer:traced(name, fn)
  originals[wrapper] = fn
  return wrapper
end

-- Undo log: a list of {table, key, wrapper, previous}; restoring walks it
-- backwards and only touches slots that still hold our wrapper, so a value
-- the program replaced in the meantime is left alone.
local function make_undo(log)
  local done = false
  return function()
    if done then return end
    done = true
    for i = #log, 1, -1 do
      local entry = log[i]
      local t, key, wrapper, previous = entry[1], entry[2], entry[3], entry[4]
      if rawget(t, key) == wrapper then rawset(t, key, previous) end
    end
  end
end

registry.originals = originals
registry.FORBIDDEN = FORBIDDEN
registry.is_spanline_module = is_spanline_module
registry.loaded_modules = loaded_modules
registry.check_tracer = check_tracer
registry.wrap = wrap
registry.make_undo = make_undo

return registry
