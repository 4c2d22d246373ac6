-- instrument/lifecycle.lua: tracer:lifecycle(class_or_object, opts): a span
-- per object's life, opened by one method (or a constructor) and ended by
-- another; an object collected first ends its span as "abandoned".

local registry = require("spanline.instrument.registry")

local originals = registry.originals
local check_tracer, make_undo = registry.check_tracer, registry.make_undo

local instrument = {}
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

return instrument
