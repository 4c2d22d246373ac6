-- timeline.lua: the time view's rows: spans by start time, in buckets of a
-- sampling interval, each bucket headed by its count, errors and slowest span.
--
-- Buckets start at the first span's start (offsets read +0s, +1s, ...).
-- Spans usually arrive in start order, so new spans are appended to the last
-- bucket in O(1); only a span that starts before the last one forces a sort.
-- Rows are found by binary search over per-bucket prefix sums, like model.lua.

local timeline = {}
timeline.__index = timeline

function timeline.new(store, interval)
  local self = setmetatable({}, timeline)
  self.store = store
  self.interval = interval
  self.spans = {}        -- by start time
  self.seen = 0          -- store.list entries taken so far
  self.buckets = {}      -- { key, lo, spans = {...} } by key
  self.bfold = {}        -- bucket key -> folded override
  self.fold_default = false
  self.cum = nil         -- prefix sums of bucket row counts, nil when stale
  return self
end

local function by_start(a, b)
  if a.start ~= b.start then return a.start < b.start end
  return (a.id or "") < (b.id or "")
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

local function add_to_bucket(self, s)
  if not self.t0 then self.t0 = s.start end
  local key = (s.start - self.t0) // self.interval
  local b = self.buckets[#self.buckets]
  if not b or b.key ~= key then
    -- gap: how many empty buckets come before this one (shown in its header)
    b = { key = key, lo = self.t0 + key * self.interval, spans = {}, gap = b and key - b.key - 1 or 0 }
    self.buckets[#self.buckets + 1] = b
  end
  b.spans[#b.spans + 1] = s
end

local function rebuild(self)
  table.sort(self.spans, by_start)
  self.buckets = {}
  self.t0 = self.spans[1] and self.spans[1].start
  for _, s in ipairs(self.spans) do add_to_bucket(self, s) end
end

-- Takes in spans the store has seen since the last call.
function timeline:sync()
  local list = self.store.list
  local n = #list
  if self.seen == n then return end
  local spans = self.spans
  local sorted = true
  for i = self.seen + 1, n do
    local s = list[i]
    if s.start then
      local last = spans[#spans]
      spans[#spans + 1] = s
      if sorted and last and by_start(s, last) then sorted = false end
      if sorted then add_to_bucket(self, s) end
    end
  end
  self.seen = n
  if not sorted then rebuild(self) end
  self.cum = nil
end

function timeline:touch(_)
  -- a changed span keeps its place (start times do not change); only bucket
  -- statistics move, and those are recomputed per store version.
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
    total = total + 1 + (self:is_folded(b) and 0 or #b.spans)
    c[i] = total
  end
  self.cum = c
  return c
end

function timeline:count()
  local c = cum(self)
  return c[#c] or 0
end

-- Row k: { bucket = b } for a header, { span = s, bucket = b } for a span.
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
  local s = b.spans[k - 1]
  return { span = s, item = s, bucket = b, depth = 1 }
end

function timeline:rows(from)
  local k = (from or 1) - 1
  return function()
    k = k + 1
    return self:row(k)
  end
end

local function bucket_index(self, b)
  local buckets = self.buckets
  local lo, hi = 1, #buckets
  while lo <= hi do
    local mid = (lo + hi) // 2
    local key = buckets[mid].key
    if key == b.key then return mid end
    if key < b.key then lo = mid + 1 else hi = mid - 1 end
  end
  return nil
end

-- The bucket a span is in (by its start time; nothing stored on the span).
function timeline:bucket_of(s)
  cum(self)
  local a = s.start
  if not a or not self.t0 then return nil end
  local i = bucket_index(self, { key = (a - self.t0) // self.interval })
  return i and self.buckets[i] or nil
end

-- The row of a span, or with as_group of a bucket (given by any object with
-- a key), or nil when its bucket is folded.
function timeline:index_of(item, as_bucket)
  if item == nil then return nil end
  local c = cum(self)
  if as_bucket then
    local i = bucket_index(self, item)
    return i and (c[i - 1] or 0) + 1 or nil
  end
  local b = self:bucket_of(item)
  if not b then return nil end
  local i = bucket_index(self, b)
  if not i or self.buckets[i] ~= b or self:is_folded(b) then return nil end
  -- spans are sorted by start within the bucket: binary search, then scan ties
  local spans = b.spans
  local lo, hi = 1, #spans
  while lo < hi do
    local mid = (lo + hi) // 2
    if spans[mid].start >= item.start then hi = mid else lo = mid + 1 end
  end
  for j = lo, #spans do
    if spans[j] == item then return (c[i - 1] or 0) + 1 + j end
    if spans[j].start ~= item.start then break end
  end
  for j, s in ipairs(spans) do
    if s == item then return (c[i - 1] or 0) + 1 + j end
  end
  return nil
end

function timeline:reveal(span)
  local b = self:bucket_of(span)
  if b then
    self.bfold[b.key] = false
    self.cum = nil
  end
  return self:index_of(span)
end

function timeline:toggle(row)
  if not row.bucket or row.span then return false end
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
  return row.bucket and not row.span and self:is_folded(row.bucket)
end

function timeline:each_span(fn)
  self:sync()
  for _, s in ipairs(self.spans) do fn(s) end
end

-- count, errors, open, slowest span of a bucket (cached per store version).
function timeline:stats(b)
  local version = self.store.version
  if b.stats and b.stats.version == version and b.stats.n == #b.spans then return b.stats end
  local st = { version = version, n = #b.spans, count = #b.spans, errors = 0, open = 0 }
  for _, s in ipairs(b.spans) do
    if s.status == "error" then st.errors = st.errors + 1 end
    if s.status == "open" or s.finish == nil then st.open = st.open + 1 end
    if s.dur and (st.slowest == nil or s.dur > st.slowest.dur) then st.slowest = s end
  end
  b.stats = st
  return st
end

return timeline
