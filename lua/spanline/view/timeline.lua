-- timeline.lua: the time view's rows: spans by start time, in buckets of a
-- sampling interval, each bucket headed by its count, errors and slowest span.
--
-- Buckets start at the first span's start (offsets read +0s, +1s, ...).
-- The order is the store's by-start index, kept in C (spans usually arrive
-- in start order: new ones are appended; one that starts before the last
-- makes it sort again); a bucket is a run of that index ({ key, lo, first,
-- n }), so the view holds no Lua value per span. Rows are found by binary
-- search over per-bucket prefix sums, like model.lua.

local timeline = {}
timeline.__index = timeline

function timeline.new(store, interval)
  local self = setmetatable({}, timeline)
  self.store = store
  self.interval = interval
  self.n = 0             -- index entries taken so far
  self.buckets = {}      -- { key, lo, first, n, gap } by key
  self.bfold = {}        -- bucket key -> folded override
  self.fold_default = false
  self.cum = nil         -- prefix sums of bucket row counts, nil when stale
  return self
end

-- Picks a round interval giving about 20 buckets over [lo, hi].
function timeline.auto_interval(lo, hi)
  local span = (hi or 0) - (lo or 0)
  if span <= 0 then return 1000000000 end
  local target = span / 20
  local step = 1
  while true do
    for _, m in ipairs({ 1, 2, 5 }) do
      if step * m >= target then return step * m end
    end
    step = step * 10
  end
end

-- Appends the runs of the index from entry `from` on as buckets.
local function add_buckets(self, from)
  local buckets = self.buckets
  for _, run in ipairs(self.store.asm:buckets(self.t0, self.interval, from)) do
    local key, first, n = run[1], run[2], run[3]
    local last = buckets[#buckets]
    if last and last.key == key then
      last.n = last.n + n
    else
      -- gap: how many empty buckets come before this one (shown in its header)
      buckets[#buckets + 1] = { key = key, lo = self.t0 + key * self.interval, first = first, n = n,
        gap = last and key - last.key - 1 or 0 }
    end
  end
end

-- Takes in spans the store has seen since the last call.
function timeline:sync()
  local asm = self.store.asm
  local n, resorted = asm:by_start()
  if n == self.n and not resorted then return end
  if resorted or not self.t0 then
    self.buckets = {}
    self.t0 = n > 0 and asm:start(asm:by_start_at(1)) or nil
    if self.t0 then add_buckets(self, 1) end
  else
    add_buckets(self, self.n + 1)
  end
  self.n = n
  self.cum = nil
end

function timeline:touch(_)
  -- a changed span keeps its place (start times do not change); only bucket
  -- statistics move, and those are recomputed per store version.
  self.cum = nil
end

function timeline:touch_all(_)
  self.cum = nil
end

function timeline:is_folded(b)
  local v = self.bfold[b.key]
  if v == nil then return self.fold_default end
  return v
end

local function cum(self)
  self:sync()
  if self.cum then return self.cum end
  local c, total = {}, 0
  for i, b in ipairs(self.buckets) do
    total = total + 1 + (self:is_folded(b) and 0 or b.n)
    c[i] = total
  end
  self.cum = c
  return c
end

function timeline:count()
  local c = cum(self)
  return c[#c] or 0
end

-- The ref of a bucket's j-th span.
function timeline:ref_at(b, j)
  return self.store.asm:by_start_at(b.first + j - 1)
end

-- Row k: { bucket = b } for a header, { ref, span, bucket = b } for a span.
function timeline:row(k)
  local c = cum(self)
  local lo, hi = 1, #c
  if hi == 0 or k < 1 or k > c[hi] then return nil end
  while lo < hi do
    local mid = (lo + hi) // 2
    if c[mid] >= k then hi = mid else lo = mid + 1 end
  end
  local b = self.buckets[lo]
  k = k - (c[lo - 1] or 0)
  if k == 1 then return { bucket = b, item = b, depth = 0 } end
  local ref = self:ref_at(b, k - 1)
  return { ref = ref, span = self.store:span(ref), item = ref, bucket = b, depth = 1 }
end

function timeline:rows(from)
  local k = (from or 1) - 1
  return function()
    k = k + 1
    return self:row(k)
  end
end

local function bucket_index(self, key)
  local buckets = self.buckets
  local lo, hi = 1, #buckets
  while lo <= hi do
    local mid = (lo + hi) // 2
    local k = buckets[mid].key
    if k == key then return mid end
    if k < key then lo = mid + 1 else hi = mid - 1 end
  end
  return nil
end

-- The bucket a span is in (by its start time).
function timeline:bucket_of(ref)
  cum(self)
  local a = self.store:start(ref)
  if not a or not self.t0 then return nil end
  local i = bucket_index(self, (a - self.t0) // self.interval)
  return i and self.buckets[i] or nil
end

-- The row of a span, or with as_bucket of a bucket (given by any object
-- with a key), or nil when its bucket is folded.
function timeline:index_of(item, as_bucket)
  if item == nil then return nil end
  local c = cum(self)
  if as_bucket then
    local i = bucket_index(self, item.key)
    return i and (c[i - 1] or 0) + 1 or nil
  end
  local b = self:bucket_of(item)
  if not b then return nil end
  local i = bucket_index(self, b.key)
  if not i or self:is_folded(b) then return nil end
  local at = self.store.asm:by_start_index(item)
  if not at or at < b.first or at >= b.first + b.n then return nil end
  return (c[i - 1] or 0) + 1 + (at - b.first + 1)
end

function timeline:reveal(ref)
  local b = self:bucket_of(ref)
  if b then
    self.bfold[b.key] = false
    self.cum = nil
  end
  return self:index_of(ref)
end

function timeline:toggle(row)
  if not row.bucket or row.ref then return false end
  self.bfold[row.bucket.key] = not self:is_folded(row.bucket)
  self.cum = nil
  return true
end

function timeline:collapse_all()
  self.bfold, self.fold_default, self.cum = {}, true, nil
end

function timeline:expand_all()
  self.bfold, self.fold_default, self.cum = {}, false, nil
end

function timeline:hidden(row)
  return row.bucket and not row.ref and self:is_folded(row.bucket)
end

-- The spans whose name contains term, by start, and how many of them come
-- before span cur (nil when cur has no start).
function timeline:search(term, cur)
  self:sync()
  return self.store.asm:search(term, cur)
end

-- count, errors, open, slowest span ({ name, dur }) of a bucket (cached
-- per store version).
function timeline:stats(b)
  local version = self.store.version
  if b.stats and b.stats.version == version and b.stats.n == b.n then return b.stats end
  local count, errors, open, slowest, dur = self.store.asm:range_stats(b.first, b.n)
  local st = { version = version, n = b.n, count = count, errors = errors, open = open }
  if slowest then st.slowest = { ref = slowest, name = self.store:name(slowest), dur = dur } end
  b.stats = st
  return st
end

return timeline
