-- instrument.lua: reversible monkey-patching of tables, modules and object
-- lifecycles, so a program is traced without editing it.
--
-- Entry points (init.lua delegates to them, so argument numbers in error
-- messages are those of tracer:instrument(target, opts) and friends):
-- instrument(tracer, target, opts), lifecycle(tracer, target, opts),
-- instrument_require(pattern, tracer?).
--
-- Key idea: every wrapper is registered in a weak table wrapper -> original.
-- That one registry makes undo exact (the original value goes back, so
-- `target.f == original` after undo), prevents double wrapping (a function
-- that is already a wrapper is left alone) and costs nothing once a wrapper
-- is unreachable.

local instrument = {}

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
function instrument.check_pattern(p)
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
    local valid, why = instrument.check_pattern(v)
    if not valid then
      error("bad option '" .. what .. "[" .. i .. "]' to 'instrument' (" .. why .. ")", 3)
    end
  end
  return list
end

local function check_tracer(tracer, fname)
  if type(tracer) ~= "table" and type(tracer) ~= "userdata" then
    error("calling '" .. fname .. "' on bad self (tracer expected, got " .. type(tracer) .. ")", 3)
  end
end

-- Returns the function that a wrapper stands for, or the argument itself.
function instrument.original(fn)
  return originals[fn] or fn
end

-- true when `fn` is a wrapper made by instrument() or lifecycle().
function instrument.is_wrapper(fn)
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

local function enterable(v, tracer, opts, visited)
  return not visited[v] and v ~= tracer and not FORBIDDEN[v] and not opts.modules[v]
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
    if skip then
      -- left alone
    elseif type(v) == "function" then
      if not originals[v] and (not opts.only or any_matches(opts.only, key, full)) then
        local wrapper = wrap(tracer, prefix .. full, v)
        rawset(t, key, wrapper)
        log[#log + 1] = { t, key, wrapper, v }
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
-- opts.prefix (string, default ""), opts.only / opts.except (names or
-- patterns), opts.recursive (enter nested tables, each once, and the
-- __index tables of their metatables: inherited methods),
-- opts.metamethods (also wrap "__" keys; off by default).
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
    only = check_selector(opts.only, "only"),
    except = check_selector(opts.except, "except"),
    recursive = opts.recursive and true or false,
    metamethods = opts.metamethods and true or false,
  }
  local log = {}
  if conf.recursive then
    conf.modules = loaded_modules()
    conf.modules[target] = nil
  end
  walk(tracer, target, prefix, "", conf, {}, log)
  return make_undo(log)
end

------------------------------------------------------------------------------
-- Lifecycle spans
------------------------------------------------------------------------------

-- Opens a span that is not pushed as the current span: a lifecycle span
-- outlives the call that opened it, so it must not adopt later spans of the
-- caller. Its parent is whatever is current when the object opens.
local function open_detached(tracer, name, attrs)
  return tracer:start(name, attrs, { current = false })
end

-- Finds the method `key` of `target`: its own field, or for an instance the
-- class's through __index. Returns the function and the table that holds it.
local function find_method(target, key)
  local v = rawget(target, key)
  if type(v) == "function" then return v, target end
  local seen = {}
  local t = target
  while true do
    local mt = getmetatable(t)
    local index = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(index) ~= "table" or seen[index] then break end
    seen[index] = true
    v = rawget(index, key)
    if type(v) == "function" then return v, index end
    t = index
  end
  return nil
end

local function default_name(target)
  local mt = getmetatable(target)
  local name = rawget(target, "__name")
  if type(name) ~= "string" and type(mt) == "table" then name = rawget(mt, "__name") end
  return type(name) == "string" and name or "lifecycle"
end

local function pack(...) return { n = select("#", ...), ... } end

-- lifecycle(tracer, class_or_object, opts) -> undo
-- opts.open / opts.close: method names called on the object (default
-- "start" / "stop"); or opts.create / opts.destroy: a constructor on the
-- class whose first result is the object, and the method that ends it.
-- opts.name: the span name (default: the class's __name, else "lifecycle").
-- opts.attrs: function(object, ...open/create arguments) -> attributes of
-- the span (errors in it are ignored).
-- A span is held by the object only weakly (ephemeron table), so an object
-- collected before close takes its span with it and the tracer ends it as
-- "abandoned".
function instrument.lifecycle(tracer, target, opts)
  check_tracer(tracer, "lifecycle")
  if type(target) ~= "table" then
    error("bad argument #1 to 'lifecycle' (table expected, got " .. type(target) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'lifecycle' (table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  local create, open_key = opts.create, opts.open
  local close_key = opts.destroy or opts.close
  if create == nil and open_key == nil then open_key = "start" end
  if close_key == nil then close_key = create and "destroy" or "stop" end
  local name = opts.name or default_name(target)
  for option, v in pairs({ create = create, open = open_key, close = close_key, name = name }) do
    if type(v) ~= "string" then
      error("bad option '" .. option .. "' to 'lifecycle' (string expected, got " .. type(v) .. ")", 2)
    end
  end

  local spans = setmetatable({}, { __mode = "k" })  -- object -> open span
  local log = {}

  local function install(key, make)
    local fn, holder = find_method(target, key)
    if not fn then
      error("bad argument #1 to 'lifecycle' (no method '" .. key .. "')", 3)
    end
    if originals[fn] then return end      -- already a lifecycle/instrument wrapper
    local wrapper = make(fn)
    originals[wrapper] = fn
    -- A method found on the class while `target` is an instance is installed
    -- on the instance only, so other instances stay untouched.
    local slot = holder
    if holder ~= target and rawget(target, key) == nil then slot = target end
    log[#log + 1] = { slot, key, wrapper, rawget(slot, key) }
    rawset(slot, key, wrapper)
  end

  local attrs_of = opts.attrs
  if attrs_of ~= nil and type(attrs_of) ~= "function" then
    error("bad option 'attrs' to 'lifecycle' (function expected, got " .. type(attrs_of) .. ")", 2)
  end

  local function begin(obj, ...)
    local old = spans[obj]
    if old then old:finish() end            -- reopened without close: end the old life
    local attrs
    if attrs_of then
      -- the program must not break because its tracing does: a failing or
      -- odd attrs function only costs the attributes
      local ok, t = pcall(attrs_of, obj, ...)
      if ok and type(t) == "table" then attrs = t end
    end
    local span = open_detached(tracer, name, attrs)
    spans[obj] = span
    return span
  end

  local function finish_error(span, err)
    span:finish("error", tostring(err))
  end

  if create then
    install(create, function(fn)
      return function(...)
        local r = pack(pcall(fn, ...))
        if not r[1] then error(r[2], 0) end
        local obj = r[2]
        if type(obj) == "table" or type(obj) == "userdata" then begin(obj, ...) end
        return table.unpack(r, 2, r.n)
      end
    end)
  else
    install(open_key, function(fn)
      return function(self, ...)
        local span = begin(self, ...)
        local r = pack(pcall(fn, self, ...))
        if not r[1] then
          spans[self] = nil
          finish_error(span, r[2])
          error(r[2], 0)
        end
        return table.unpack(r, 2, r.n)
      end
    end)
  end

  install(close_key, function(fn)
    return function(self, ...)
      local span = spans[self]
      spans[self] = nil
      local r = pack(pcall(fn, self, ...))
      if span then
        if r[1] then span:finish() else finish_error(span, r[2]) end
      end
      if not r[1] then error(r[2], 0) end
      return table.unpack(r, 2, r.n)
    end
  end)

  return make_undo(log)
end

------------------------------------------------------------------------------
-- Instrumenting modules as they are required
------------------------------------------------------------------------------

local function module_matches(pattern, name)
  return pattern == name or name:find("^" .. pattern .. "$") ~= nil
end

-- Every instrument_require registration shares one searcher, first in
-- package.searchers, so two registrations never search through each other;
-- it finds the loader with the other searchers and instruments its result.
local registrations = {}   -- { pattern, apply = function(name, mod) -> mod }

local function searcher(name)
  if is_spanline_module(name) then return nil end
  local matching = {}
  for _, reg in ipairs(registrations) do
    if module_matches(reg.pattern, name) then matching[#matching + 1] = reg end
  end
  if #matching == 0 then return nil end
  local searchers = package.searchers
  for i = 1, #searchers do
    local s = searchers[i]
    if s ~= searcher then
      local loader, extra = s(name)
      if type(loader) == "function" then
        return function(...)
          local mod = loader(...)
          if mod == nil then mod = package.loaded[name] end
          -- require stores what this returns in package.loaded (a function
          -- module's wrapper); undo puts the original back there.
          for _, reg in ipairs(matching) do mod = reg.apply(name, mod) end
          return mod
        end, extra
      end
    end
  end
  return nil   -- the ordinary searchers run next and report what they tried
end

local function install_searcher()
  for _, s in ipairs(package.searchers) do
    if s == searcher then return end
  end
  table.insert(package.searchers, 1, searcher)
end

local function remove_searcher()
  local searchers = package.searchers
  for i = #searchers, 1, -1 do
    if searchers[i] == searcher then table.remove(searchers, i) end
  end
end

-- instrument_require(pattern, tracer?) -> undo
-- Modules whose names match `pattern` (a Lua pattern matched against the
-- whole name, or the exact name) are instrumented recursively, with span
-- names "<module>.<key>", when they are required from now on; matching
-- modules already loaded are instrumented at once. spanline's own modules
-- never are. The tracer defaults to spanline.default() at call time.
function instrument.instrument_require(pattern, tracer)
  if type(pattern) ~= "string" then
    error("bad argument #1 to 'instrument_require' (string expected, got " .. type(pattern) .. ")", 2)
  end
  local valid, why = instrument.check_pattern(pattern)
  if not valid then
    error("bad argument #1 to 'instrument_require' (" .. why .. ")", 2)
  end
  if tracer == nil then
    tracer = require("spanline").default()
  end
  check_tracer(tracer, "instrument_require")

  local undos = {}
  -- A module that is a table is instrumented in place; one that is a
  -- function is replaced by its wrapper (span name: the module name).
  local function instrument_module(name, mod)
    if is_spanline_module(name) then return mod end
    if type(mod) == "table" and not FORBIDDEN[mod] then
      undos[#undos + 1] = instrument.instrument(tracer, mod, { prefix = name .. ".", recursive = true })
    elseif type(mod) == "function" and not originals[mod] then
      local wrapper = wrap(tracer, name, mod)
      undos[#undos + 1] = make_undo({ { package.loaded, name, wrapper, mod } })
      return wrapper
    end
    return mod
  end

  local registration = { pattern = pattern, apply = instrument_module }
  registrations[#registrations + 1] = registration
  install_searcher()
  local loaded = {}
  for name in pairs(package.loaded) do
    if type(name) == "string" and module_matches(pattern, name) then loaded[#loaded + 1] = name end
  end
  table.sort(loaded)
  for _, name in ipairs(loaded) do
    package.loaded[name] = instrument_module(name, package.loaded[name])
  end

  local done = false
  return function()
    if done then return end
    done = true
    for i = #registrations, 1, -1 do
      if registrations[i] == registration then table.remove(registrations, i) end
    end
    if #registrations == 0 then remove_searcher() end
    for i = #undos, 1, -1 do undos[i]() end
  end
end

return instrument
