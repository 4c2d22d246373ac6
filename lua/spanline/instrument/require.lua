-- instrument/require.lua: spanline.instrument_require(pattern, tracer):
-- modules whose names match are instrumented as they are required (and the
-- matching ones already loaded, at once), through one shared searcher.

local default = require("spanline.default")
local glob = require("spanline.instrument.glob")
local registry = require("spanline.instrument.registry")
local tables = require("spanline.instrument.tables")

local originals, FORBIDDEN = registry.originals, registry.FORBIDDEN
local check_tracer, wrap, make_undo = registry.check_tracer, registry.wrap, registry.make_undo
local is_spanline_module = registry.is_spanline_module

local instrument = {}
------------------------------------------------------------------------------

-- Every instrument_require registration shares one searcher, first in
-- package.searchers, so two registrations never search through each other;
-- it finds the loader with the other searchers and instruments its result.
local registrations = {}   -- { matches = function(name), apply = function(name, mod) -> mod }

local function searcher(name)
  if is_spanline_module(name) then return nil end
  local matching = {}
  for _, reg in ipairs(registrations) do
    if reg.matches(name) then matching[#matching + 1] = reg end
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

-- instrument_require(pattern, tracer?, opts?) -> undo, registration
-- Modules whose names match `pattern` (a glob, see glob.lua: 'app',
-- 'app.*', 'app.**') are instrumented recursively, with span names
-- "<module>.<key>", when they are required from now on; matching modules
-- already loaded are instrumented at once. spanline's own modules never
-- are. The tracer defaults to spanline.default() at call time (stderr, or
-- $SPANLINE_OUTPUT). opts.mode: "hook" (default) or "wrap".
-- registration.modules lists the names of the modules matched so far;
-- registration.on_match, if set, is called with each one.
function instrument.instrument_require(pattern, tracer, opts)
  if type(pattern) ~= "string" then
    error("bad argument #1 to 'instrument_require' (string expected, got " .. type(pattern) .. ")", 2)
  end
  local valid, why = glob.check(pattern)
  if not valid then
    error("bad argument #1 to 'instrument_require' (" .. why .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #3 to 'instrument_require' (table expected, got " .. type(opts) .. ")", 2)
  end
  if tracer == nil then
    tracer = default.get()
  end
  check_tracer(tracer, "instrument_require")
  local mode = registry.check_mode(tracer, opts, "instrument_require")

  local undos = {}
  local registration = { pattern = pattern, matches = glob.compile(pattern), modules = {} }
  -- A module that is a table is instrumented in place; one that is a
  -- function is traced itself (span name: the module name): in wrap mode
  -- its wrapper replaces it in package.loaded.
  local function instrument_module(name, mod)
    if is_spanline_module(name) then return mod end
    registration.modules[#registration.modules + 1] = name
    if registration.on_match then registration.on_match(name) end
    if type(mod) == "table" and not FORBIDDEN[mod] then
      undos[#undos + 1] = tables.instrument(tracer, mod,
        { prefix = name .. ".", recursive = true, mode = mode })
    elseif type(mod) == "function" and mode == "hook" then
      if registry.hook(tracer, name, mod) then undos[#undos + 1] = make_undo({}, { mod }) end
    elseif type(mod) == "function" and not originals[mod] and not registry.hooked(mod) then
      local wrapper = wrap(tracer, name, mod)
      undos[#undos + 1] = make_undo({ { package.loaded, name, wrapper, mod } })
      return wrapper
    end
    return mod
  end

  registration.apply = instrument_module
  registrations[#registrations + 1] = registration
  install_searcher()
  local loaded = {}
  for name in pairs(package.loaded) do
    if type(name) == "string" and registration.matches(name) then loaded[#loaded + 1] = name end
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
  end, registration
end

return instrument
