-- instrument/tables.lua: tracer:instrument(target, opts): traces the
-- functions of a table (a module, a class), recursively if asked, so a
-- program is traced without editing it; the undo takes it all back.
-- Hook mode (default) replaces nothing; wrap mode puts wrappers in the
-- table's slots (see registry.lua).

local registry = require("spanline.instrument.registry")

local originals, FORBIDDEN = registry.originals, registry.FORBIDDEN
local check_tracer, wrap, make_undo = registry.check_tracer, registry.wrap, registry.make_undo
local hook, hooked = registry.hook, registry.hooked
local loaded_modules = registry.loaded_modules

local instrument = {}

-- A selector entry without magic characters is a name compared exactly; one
-- with them is a Lua pattern searched in the key (anchor it with ^ and $).
local function selector_matches(entry, key, path)
  if entry == key or entry == path then return true end
  if entry:find("[%^%$%*%+%-%?%.%[%]%%%(%)]") then
    return key:find(entry) ~= nil or (path ~= key and path:find(entry) ~= nil)
  end
  return false
end

local function any_matches(list, key, path)
  for i = 1, #list do
    if selector_matches(list[i], key, path) then return true end
  end
  return false
end

local function check_selector(list, what)
  if list == nil then return nil end
  if type(list) == "string" then list = { list } end
  if type(list) ~= "table" then
    error("bad option '" .. what .. "' to 'instrument' (table or string expected, got "
      .. type(list) .. ")", 3)
  end
  for i, v in ipairs(list) do
    if type(v) ~= "string" then
      error("bad option '" .. what .. "[" .. i .. "]' to 'instrument' (string expected, got "
        .. type(v) .. ")", 3)
    end
    local valid, why = registry.check_pattern(v)
    if not valid then
      error("bad option '" .. what .. "[" .. i .. "]' to 'instrument' (" .. why .. ")", 3)
    end
  end
  return list
end

local function enterable(v, tracer, opts, visited)
  return not visited[v] and v ~= tracer and not FORBIDDEN[v] and not opts.modules[v]
end

-- Traces fn found at t[key] under span name `name`, in the mode asked.
local function trace_function(tracer, t, key, fn, name, opts, log)
  if opts.mode == "hook" then
    if hook(tracer, name, fn) then log.hooked[#log.hooked + 1] = fn end
  elseif not originals[fn] and not hooked(fn) then
    local wrapper = wrap(tracer, name, fn)
    rawset(t, key, wrapper)
    log[#log + 1] = { t, key, wrapper, fn }
  end
end

local function walk(tracer, t, prefix, path, opts, visited, log)
  visited[t] = true
  -- Collect first: assigning existing fields during pairs() is allowed, but a
  -- stable key list keeps the order of wrapped names deterministic.
  local keys = {}
  for k, v in next, t do   -- raw: a __pairs metamethod must not choose what we patch
    if type(k) == "string" and (type(v) == "function" or type(v) == "table") then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local v = rawget(t, key)
    local full = path == "" and key or path .. "." .. key
    local skip = (not opts.metamethods and key:sub(1, 2) == "__")
      or (opts.except and any_matches(opts.except, key, full))
    if skip then   -- luacheck: ignore 542 (an empty branch: the key is left alone)
    elseif type(v) == "function" then
      if not opts.only or any_matches(opts.only, key, full) then
        trace_function(tracer, t, key, v, prefix .. full, opts, log)
      end
    elseif opts.recursive and enterable(v, tracer, opts, visited) then
      walk(tracer, v, prefix, full, opts, visited, log)
    end
  end
  -- A class that inherits (setmetatable(Dog, { __index = Animal })) gets
  -- its inherited methods too, named as its own: the base class may be a
  -- local of the module, reachable no other way.
  if opts.recursive then
    local mt = getmetatable(t)
    local base = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(base) == "table" and enterable(base, tracer, opts, visited) then
      walk(tracer, base, prefix, path, opts, visited, log)
    end
  end
end

-- instrument(tracer, target, opts) -> undo
-- opts.mode ("hook", the default, or "wrap"), opts.prefix (string, default
-- ""), opts.only / opts.except (names or Lua patterns of keys),
-- opts.recursive (enter nested tables, each once, and the __index tables of
-- their metatables: inherited methods), opts.metamethods (also "__" keys;
-- off by default). A function reached under several names is traced once,
-- under the first name in sorted key order.
function instrument.instrument(tracer, target, opts)
  check_tracer(tracer, "instrument")
  if type(target) ~= "table" then
    error("bad argument #1 to 'instrument' (table expected, got " .. type(target) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'instrument' (table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  local prefix = opts.prefix or ""
  if type(prefix) ~= "string" then
    error("bad option 'prefix' to 'instrument' (string expected, got " .. type(prefix) .. ")", 2)
  end
  local conf = {
    mode = registry.check_mode(tracer, opts, "instrument"),
    only = check_selector(opts.only, "only"),
    except = check_selector(opts.except, "except"),
    recursive = opts.recursive and true or false,
    metamethods = opts.metamethods and true or false,
  }
  local log = { hooked = {} }
  if conf.recursive then
    conf.modules = loaded_modules()
    conf.modules[target] = nil
  end
  walk(tracer, target, prefix, "", conf, {}, log)
  return make_undo(log, log.hooked)
end

return instrument
