-- query/chain.lua: the query object: a lazy, pull-based chain of
-- generators (open -> spans -> where/map/limit/top/sort_by/count/collect).
--
-- Key idea: each step wraps the generator of the step before it, so nothing
-- is read until somebody pulls, and where/map/limit/top run in memory
-- bounded by the open spans. Statistics (query/stats.lua) and trees
-- (query/trees.lua) add their methods to the same Q metatable.

local core = require("spanline.core")
local assembler = require("spanline.query.assembler")
local expr = require("spanline.query.expr")

local query = {}

-- The assembler (records -> spans, any order) and the --where language.
query.assembler = assembler.new
query.span_mt = assembler.span_mt
query.compute_self = assembler.compute_self
query.rewrite_units = expr.rewrite_units
query.expr_fields = expr.expr_fields
query.compile_where = expr.compile_where
query.is_limit_error = expr.is_limit_error
query.FIELDS = expr.FIELDS

-- ===== QUERIES =====

local Q = {}
Q.__index = Q

local function make(gen, kind, source)
  return setmetatable({ gen = gen, kind = kind, source = source }, Q)
end

-- path | fd | "-" | { records } | reader. opts: follow, max_line, raw.
-- Returns a query of records, or nil, message, code. With follow, a pass
-- ends when no data is left; iterating the same query again resumes.
function query.open(src, opts)
  opts = opts or {}
  if type(src) == "table" and not src.next then
    local i = 0
    return make(function() i = i + 1 return src[i] end, "records", { opts = opts })
  end
  local reader, msg, code
  if type(src) == "userdata" or (type(src) == "table" and src.next) then
    reader = src
  else
    if type(src) ~= "string" and math.type(src) ~= "integer" then
      error("bad argument #1 to 'open' (path, fd or records expected, got " .. type(src) .. ")", 2)
    end
    reader, msg, code = core.reader(src, { follow = opts.follow, max_line = opts.max_line, raw = opts.raw })
    if not reader then return nil, msg, code end
  end
  local source = { reader = reader, opts = opts }
  return make(function()
    local rec, err = reader:next()
    if rec == nil and err then error(err, 0) end
    if rec == false then
      -- Following and no data yet: end this pass; iterating again resumes.
      source.again = true
      return nil
    end
    return rec
  end, "records", source)
end

-- A query over a string of stream bytes (tests, pipes already read).
function query.from_string(text, opts)
  opts = opts or {}
  local reader = core.reader_string(text, { raw = opts.raw, max_line = opts.max_line })
  return query.open(reader, opts)
end

-- A query over spans already assembled (a list).
function query.from_spans(list)
  local i = 0
  return make(function() i = i + 1 return list[i] end, "spans")
end

-- A query over any span iterator (source.reader, when given, answers bad_lines).
function query.from_iter(gen, source)
  return make(gen, "spans", source or {})
end

-- Bad lines seen by the reader under this query: count, { line numbers }.
function Q:bad_lines()
  local r = self.source and self.source.reader
  if r and r.bad_lines then return r:bad_lines() end
  return 0, {}
end

-- Parent links refused because they closed a cycle (bad input), so far.
function Q:cycles()
  local src = self.source or {}
  return (src.cycles or 0) + (src.assembler and src.assembler.cycles or 0)
end

function Q:meta()
  return self.source and self.source.meta
end

-- Records -> spans (streaming: ended spans in end order, then open ones).
function Q:spans()
  if self.kind == "spans" then return self end
  local next_rec = self.gen
  local source = self.source or {}
  local asm = query.assembler({ release = true, raw = source.opts and source.opts.raw })
  source.assembler = asm
  local tail, tail_i = nil, 0
  local q = make(function()
    while true do
      local s = asm:take()
      if s then return s end
      if tail then
        tail_i = tail_i + 1
        return tail[tail_i]
      end
      local rec = next_rec()
      if rec == nil and source.again then
        source.again = false
        return nil  -- follow mode: open spans are not final yet
      elseif rec == nil then
        tail = asm:open_spans()
      else
        asm:add(rec)
        if rec.type == "meta" and not source.meta then source.meta = rec end
      end
    end
  end, "spans", source)
  return q
end

local function spans_of(q)
  if q.kind == "spans" or q.kind == "any" then return q end
  return q:spans()
end

-- Iterates: `for x in q:iter() do`.
function Q:iter()
  return self.gen
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

-- where(fn) or where{ field = value | fn(value) -> bool, ... }.
function Q:where(pred)
  local q = spans_of(self)
  if type(pred) == "table" then
    local checks = {}
    for k, v in pairs(pred) do checks[#checks + 1] = { getter(k), v } end
    pred = function(s)
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
  elseif type(pred) ~= "function" then
    error("bad argument #1 to 'where' (function or table expected, got " .. type(pred) .. ")", 2)
  end
  local gen = q.gen
  return make(function()
    while true do
      local s = gen()
      if s == nil then return nil end
      if pred(s) then return s end
    end
  end, q.kind, q.source)
end

function Q:map(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'map' (function expected, got " .. type(fn) .. ")", 2)
  end
  local q = spans_of(self)
  local gen = q.gen
  return make(function()
    local s = gen()
    if s == nil then return nil end
    return fn(s)
  end, "any", q.source)
end

function Q:limit(n)
  if math.type(n) ~= "integer" then
    error("bad argument #1 to 'limit' (integer expected, got " .. type(n) .. ")", 2)
  end
  local q = spans_of(self)
  local gen, i = q.gen, 0
  return make(function()
    if i >= n then return nil end
    i = i + 1
    return gen()
  end, q.kind, q.source)
end

function Q:collect()
  local q = spans_of(self)
  local out = {}
  for s in q.gen do out[#out + 1] = s end
  return out
end

function Q:count()
  local q, n = spans_of(self), 0
  for _ in q.gen do n = n + 1 end
  return n
end

-- sort_by(key_or_fn [, "desc"]) holds every span.
function Q:sort_by(key, order)
  local get = getter(key)
  local list = self:collect()
  local desc = order == "desc" or order == true
  table.sort(list, function(a, b)
    local x, y = get(a), get(b)
    if x == nil then return false end
    if y == nil then return true end
    if desc then return x > y end
    return x < y
  end)
  return query.from_spans(list)
end

-- The n spans with the largest key (default "dur"), largest first; keeps n.
function Q:top(n, key)
  local get = getter(key or "dur")
  local best = {}
  for s in spans_of(self).gen do
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
end


query.Q = Q
query.make = make
query.spans_of = spans_of

return query
