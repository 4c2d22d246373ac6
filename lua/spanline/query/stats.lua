-- query/stats.lua: statistics over a query: stats(), group_by(), histogram().
--
-- Key idea: stats stream (one accumulator per group, durations kept as
-- int64 samples in C for exact nearest-rank percentiles), so memory is
-- bounded by the groups, not the spans.

local core = require("spanline.core")
local chain = require("spanline.query.chain")

local Q, getter, spans_of = chain.Q, chain.getter, chain.spans_of

-- ===== STATS =====

-- Rows iterate as `for row in rows do` as well as rows[i]: each row knows
-- its rank, so the iterator keeps no state of its own.
local rows_mt = {
  __call = function(t, _, prev)
    return t[prev and prev.rank + 1 or 1]
  end,
}

local function ranked(rows)
  for i, row in ipairs(rows) do row.rank = i end
  return setmetatable(rows, rows_mt)
end

local function new_acc(key)
  return { key = key, count = 0, errors = 0, open = 0, d = core.samples(), self_total = 0, self_n = 0 }
end

local function feed(acc, s)
  acc.count = acc.count + 1
  local st, dur, self = s.status, s.dur, s.self
  if st == "error" then acc.errors = acc.errors + 1 end
  if st == "open" or dur == nil then
    if st == "open" then acc.open = acc.open + 1 end
  else
    acc.d:add(dur)
  end
  if self then
    acc.self_total = acc.self_total + self
    acc.self_n = acc.self_n + 1
  end
end

local function finish_acc(acc)
  local row = acc.d:summary()
  row.key, row.count, row.errors, row.open = acc.key, acc.count, acc.errors, acc.open
  row.self_total = acc.self_total
  row.self_mean = acc.self_n > 0 and acc.self_total / acc.self_n or nil
  return row
end

-- One row over everything: count, errors, open, total, min, mean, stdev
-- (population), p50, p90, p95, p99, max, self_total, self_mean. Durations
-- of open spans are not counted (they have none).
function Q:stats()
  local acc = new_acc("all")
  for s in spans_of(self).pass() do feed(acc, s) end
  return ranked({ finish_acc(acc) })
end

local Groups = {}
Groups.__index = Groups

-- group_by("name" | "trace" | "status" | "attr.KEY" | fn): grouping is lazy;
-- stats() streams, spans() holds every span per group.
function Q:group_by(key)
  return setmetatable({ q = spans_of(self), get = getter(key), keyname = key }, Groups)
end

-- (A string is its own key: tostring would look for a __tostring first.)
local function group_key(v)
  if type(v) == "string" then return v end
  if v == nil then return "(none)" end
  return tostring(v)
end

-- Rows sorted by total duration, largest first (then key). A row also
-- holds its key under the grouping's name (row.name for group_by("name"),
-- as `spanline report` titles that column), unless that is a stats field.
function Groups:stats()
  local accs, order = {}, {}
  local get = self.get
  -- The key read in the loop when it is a plain field (one call less per span).
  local field = type(self.keyname) == "string" and not self.keyname:find("^attrs?%.") and self.keyname
  for s in self.q.pass() do
    local k
    if field then k = s[field] else k = get(s) end
    local acc = accs[k]   -- a string key is its own group key; others miss here
    if not acc then
      k = group_key(k)
      acc = accs[k]
      if not acc then
        acc = new_acc(k)
        accs[k] = acc
        order[#order + 1] = k
      end
    end
    feed(acc, s)
  end
  local rows = {}
  local alias = type(self.keyname) == "string" and self.keyname or nil
  for _, k in ipairs(order) do
    local row = finish_acc(accs[k])
    if alias and row[alias] == nil and alias ~= "rank" then row[alias] = k end
    rows[#rows + 1] = row
  end
  table.sort(rows, function(a, b)
    local x, y = a.total or 0, b.total or 0
    if x ~= y then return x > y end
    return a.key < b.key
  end)
  return ranked(rows)
end

-- { key = { spans } } (holds every span).
function Groups:spans()
  local out = {}
  for s in self.q.pass() do
    local k = group_key(self.get(s))
    local list = out[k]
    if not list then
      list = {}
      out[k] = list
    end
    list[#list + 1] = s
  end
  return out
end

-- ===== HISTOGRAM =====

-- histogram(field, { buckets = n | { edges... } }): rows { lo, hi, count },
-- lo inclusive, hi exclusive (the last bucket includes its hi). With n
-- buckets the range min..max is split evenly (needs the values: holds them).
function Q:histogram(field, opts)
  local get = getter(field or "dur")
  opts = opts or {}
  local buckets = opts.buckets or 10
  local rows = {}
  if type(buckets) == "table" then
    local edges = buckets
    for i = 1, #edges - 1 do rows[i] = { lo = edges[i], hi = edges[i + 1], count = 0 } end
    for s in spans_of(self).pass() do
      local v = get(s)
      if type(v) == "number" then
        for i = #rows, 1, -1 do
          local r = rows[i]
          if v >= r.lo and (v < r.hi or (i == #rows and v == r.hi)) then
            r.count = r.count + 1
            break
          end
        end
      end
    end
    return rows
  end
  local values, lo, hi = {}, nil, nil
  for s in spans_of(self).pass() do
    local v = get(s)
    if type(v) == "number" then
      values[#values + 1] = v
      if not lo or v < lo then lo = v end
      if not hi or v > hi then hi = v end
    end
  end
  if not lo then return rows end
  local width = (hi - lo) / buckets
  for i = 1, buckets do
    local a = lo + (i - 1) * width
    local b = i == buckets and hi or lo + i * width
    if math.type(lo) == "integer" then
      a, b = math.floor(a), (i == buckets and hi or math.floor(b))
    end
    rows[i] = { lo = a, hi = b, count = 0 }
  end
  for _, v in ipairs(values) do
    local i = width > 0 and math.floor((v - lo) / width) + 1 or 1
    if i > buckets then i = buckets end
    rows[i].count = rows[i].count + 1
  end
  return rows
end


return chain
