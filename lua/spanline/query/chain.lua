-- query/chain.lua: the query object: a lazy, pull-based chain of steps
-- over a source (open -> spans -> where/map/limit/top/sort_by/count/collect).
--
-- Key idea: a query holds how to start a pass over its source (a function
-- returning a fresh generator), never a generator itself, so iterating it
-- twice reads the source twice: a path is opened again, a list restarts. A
-- source that cannot be read twice (stdin, an fd, a reader or iterator
-- passed in) raises a clear error on the second pass. With follow, a pass
-- ends when no data is left and the next pass goes on from there. Each
-- step wraps the pass of the step before it, so nothing is read until
-- somebody pulls. Statistics (query/stats.lua) and trees (query/trees.lua)
-- add their methods to the same Q metatable.

local core = require("spanline.core")
local expr = require("spanline.query.expr")
local spans = require("spanline.query.spans")

local query = {}

-- The --where language.
query.rewrite_units = expr.rewrite_units
query.expr_fields = expr.expr_fields
query.compile_where = expr.compile_where
query.is_limit_error = expr.is_limit_error
query.FIELDS = expr.FIELDS
query.EMPTY = core.EMPTY
query.filter = spans.filter

-- ===== QUERIES =====

local Q = {}
Q.__index = Q

local function make(pass, kind, source)
  return setmetatable({ pass = pass, kind = kind, source = source or {} }, Q)
end

-- A source read once: its second pass raises (what: a description).
local function once(what, first)
  return function()
    if first == nil then
      error("spanline.query: this query was already read and its source (" .. what ..
        ") cannot be read twice; collect() what you need from the first pass", 0)
    end
    local x = first
    first = nil
    return x
  end
end

local function reader_opts(opts)
  return { follow = opts.follow, max_line = opts.max_line, raw = opts.raw }
end

-- path | fd | "-" | { records } | reader. opts: follow, max_line, raw, pid
-- (spans of that process only: a stream several processes wrote).
-- Returns a query of records, or nil, message, code.
function query.open(src, opts)
  opts = opts or {}
  local source = { opts = opts }
  if type(src) == "table" and not src.next then
    return make(function()
      local i = 0
      return function()
        i = i + 1
        return src[i]
      end
    end, "records", source)
  end
  local reader, msg, code
  if type(src) == "userdata" or (type(src) == "table" and src.next) then
    reader = src
    source.take_reader = once("a reader", reader)
  else
    if type(src) ~= "string" and math.type(src) ~= "integer" then
      error("bad argument #1 to 'open' (path, fd or records expected, got " .. type(src) .. ")", 2)
    end
    reader, msg, code = core.reader(src, reader_opts(opts))
    if not reader then return nil, msg, code end
    local first = reader
    if opts.follow then
      source.take_reader = function() return reader end   -- each pass resumes
    elseif type(src) == "string" and src ~= "-" then
      source.take_reader = function()
        local r = first
        first = nil
        if not r then
          local err
          r, err = core.reader(src, reader_opts(opts))
          if not r then error("spanline.query: cannot read " .. src .. " again: " .. tostring(err), 0) end
        end
        source.reader = r
        return r
      end
    else
      source.take_reader = once(src == "-" and "stdin" or "fd " .. tostring(src), reader)
    end
  end
  source.reader = reader
  return make(function()
    local r = source.take_reader()
    return function()
      local rec, err = r:next()
      if rec == nil and err then error(err, 0) end
      if rec == false then
        -- Following and no data yet: end this pass; the next one resumes.
        source.again = true
        return nil
      end
      return rec
    end
  end, "records", source)
end

-- A query over a string of stream bytes (tests, pipes already read).
function query.from_string(text, opts)
  opts = opts or {}
  local source = { opts = opts }
  local function open_reader()
    local r = core.reader_string(text, { raw = opts.raw, max_line = opts.max_line })
    source.reader = r
    return r
  end
  source.take_reader = open_reader
  source.reader = nil
  return make(function()
    local r = open_reader()
    return function()
      local rec, err = r:next()
      if rec == nil and err then error(err, 0) end
      return rec
    end
  end, "records", source)
end

-- A query over spans already assembled (a list).
function query.from_spans(list)
  return make(function()
    local i = 0
    return function()
      i = i + 1
      return list[i]
    end
  end, "spans")
end

-- A query over a span iterator (read once; source.reader, when given,
-- answers bad_lines).
function query.from_iter(gen, source)
  local take = once("an iterator", gen)
  return make(function() return take() end, "spans", source)
end

-- Bad lines seen by the reader under this query: count, { line numbers }.
function Q:bad_lines()
  local r = self.source.reader
  if r and r.bad_lines then return r:bad_lines() end
  return 0, {}
end

-- What the assembler of the last (or current) pass counted.
local function counted(q, key)
  local asm = q.source.assembler
  return asm and asm:stats()[key] or 0
end

-- Parent links refused because they closed a cycle (bad input).
function Q:cycles() return counted(self, "cycles") end

-- Second start or end records for one span id.
function Q:duplicates() return counted(self, "duplicates") end

-- Spans of a streaming pass without a start record (they started before
-- the stream begins: an end record, or events of a span still open).
function Q:ends_only() return counted(self, "ends_only") end

-- Records read (meta records included; with opts.pid, that process's).
function Q:records_read() return counted(self, "records") end

-- The processes whose meta records were seen: { pids = { in order }, more }.
function Q:processes()
  local asm = self.source.assembler
  if not asm then return { pids = {}, more = false } end
  local pids, more = asm:pids()
  return { pids = pids, more = more }
end

-- The stream's first meta record (once read), or nil.
function Q:meta()
  local asm = self.source.assembler
  local line = asm and asm:meta()
  if not line then return nil end
  return core.reader_string(line):next()
end

-- Records -> spans (streaming: ended spans in end order, then open ones;
-- see spanline/query/init.lua). opts.fields, opts.reuse, opts.started_only:
-- see query/spans.lua.
function Q:spans(opts)
  if self.kind == "spans" then return self end
  return spans.stream(self, make, opts)
end

local function spans_of(q)
  if q.kind == "spans" or q.kind == "any" then return q end
  return q:spans()
end

-- Iterates: `for x in q:iter() do` (each call starts a new pass).
function Q:iter()
  return self.pass()
end

-- Field access with "attr.KEY" support.
local function getter(key)
  if type(key) == "function" then return key end
  if type(key) ~= "string" then error("bad key " .. tostring(key), 3) end
  local attr = key:match("^attrs?%.(.+)$")
  if attr then
    return function(s)
      local a = s.attrs
      return a and a[attr]
    end
  end
  return function(s) return s[key] end
end
query.getter = getter

-- A predicate from where's argument: a function; a table of field = value
-- or field = fn(value); or an expression string in the CLI's --where
-- language (a span it cannot evaluate does not match).
local function predicate(pred)
  if type(pred) == "function" then return pred end
  if type(pred) == "table" then
    local checks = {}
    for k, v in pairs(pred) do checks[#checks + 1] = { getter(k), v } end
    return function(s)
      for _, c in ipairs(checks) do
        local val = c[1](s)
        if type(c[2]) == "function" then
          if not c[2](val) then return false end
        elseif val ~= c[2] then
          return false
        end
      end
      return true
    end
  end
  if type(pred) == "string" then
    local fn, msg = expr.compile_where(pred)
    if not fn then error("bad argument #1 to 'where' (bad expression: " .. msg .. ")", 3) end
    return function(s)
      local ok, v = pcall(fn, s)
      if not ok and expr.is_limit_error(v) then error(v, 0) end  -- over its budget: the query ends
      return ok and v and true or false
    end
  end
  error("bad argument #1 to 'where' (function, table or expression string expected, got " ..
    type(pred) .. ")", 3)
end

function Q:where(pred)
  local q = spans_of(self)
  local test = predicate(pred)
  local pass = q.pass
  return make(function()
    local gen = pass()
    return function()
      while true do
        local s = gen()
        if s == nil then return nil end
        if test(s) then return s end
      end
    end
  end, q.kind, q.source)
end

function Q:map(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'map' (function expected, got " .. type(fn) .. ")", 2)
  end
  local q = spans_of(self)
  local pass = q.pass
  return make(function()
    local gen = pass()
    return function()
      local s = gen()
      if s == nil then return nil end
      return fn(s)
    end
  end, "any", q.source)
end

function Q:limit(n)
  if math.type(n) ~= "integer" then
    error("bad argument #1 to 'limit' (integer expected, got " .. type(n) .. ")", 2)
  end
  local q = spans_of(self)
  local pass = q.pass
  return make(function()
    local gen, i = pass(), 0
    return function()
      if i >= n then return nil end
      i = i + 1
      return gen()
    end
  end, q.kind, q.source)
end

function Q:collect()
  local out = {}
  for s in spans_of(self).pass() do out[#out + 1] = s end
  return out
end

function Q:count()
  local n = 0
  for _ in spans_of(self).pass() do n = n + 1 end
  return n
end

-- A query whose pass computes a list from a pass of q (sort_by, top).
local function derived(q, compute)
  return make(function()
    local list, i = compute(q.pass()), 0
    return function()
      i = i + 1
      return list[i]
    end
  end, q.kind, q.source)
end

-- sort_by(key_or_fn [, "desc"]): a query of the spans in that order (each
-- pass holds every span).
function Q:sort_by(key, order)
  local get = getter(key)
  local desc = order == "desc" or order == true
  return derived(spans_of(self), function(gen)
    local list = {}
    for s in gen do list[#list + 1] = s end
    table.sort(list, function(a, b)
      local x, y = get(a), get(b)
      if x == nil then return false end
      if y == nil then return true end
      if desc then return x > y end
      return x < y
    end)
    return list
  end)
end

-- top(n [, key]): a query of the n spans with the largest key (default
-- "dur"), largest first; each pass keeps n.
function Q:top(n, key)
  if math.type(n) ~= "integer" then
    error("bad argument #1 to 'top' (integer expected, got " .. type(n) .. ")", 2)
  end
  local get = getter(key or "dur")
  return derived(spans_of(self), function(gen)
    local best = {}
    for s in gen do
      local v = get(s)
      if v ~= nil then
        local m = #best
        if m < n or v > best[m][1] then
          local i = m < n and m + 1 or m
          while i > 1 and best[i - 1][1] < v do
            best[i] = best[i - 1]
            i = i - 1
          end
          best[i] = { v, s }
        end
      end
    end
    local out = {}
    for i, e in ipairs(best) do out[i] = e[2] end
    return out
  end)
end

query.Q = Q
query.make = make
query.spans_of = spans_of

return query
