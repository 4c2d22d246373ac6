-- model.lua: the logical view's rows (span trees), built lazily.
--
-- The key idea: no flat list of rows ever exists. Each expanded node caches
-- its visible children ("items": spans, or groups of repeated siblings) and
-- the prefix sums of their row counts, so row k is found by a binary search
-- per tree level and a 10^6-span file costs only the rows on screen. New
-- data drops the caches on the path from the changed span to the top.

local model = {}
model.__index = model

-- A run of at least this many same-named siblings is shown as one row.
model.MIN_RUN = 3

-- store: see view/store.lua (get, roots, version).
-- Span fields that may be missing are read with rawget: query's spans have
-- an __index function (lazy attrs) that plain reads of missing keys call.
function model.new(store)
  local self = setmetatable({}, model)
  self.store = store
  self.top = { children = nil, is_top = true }
  self.gen = 0                 -- bumped by collapse/expand all: every cache stale
  self.fold_default = false
  self.group_default = true    -- groups of repeated siblings start collapsed
  self.fold = setmetatable({}, { __mode = "k" })   -- span -> folded override
  self.gopen = setmetatable({}, { __mode = "k" })  -- first member -> expanded override
  return self
end

local function by_start(a, b)
  local sa, sb = a.start or 0, b.start or 0
  if sa ~= sb then return sa < sb end
  return (a.id or "") < (b.id or "")
end

-- The list itself when already in start order (the usual case: records are
-- written as things happen), else a sorted copy; never sorts in place, the
-- list belongs to the assembler.
local function ordered(list)
  for i = 2, #list do
    if by_start(list[i], list[i - 1]) then
      local out = table.move(list, 1, #list, 1, {})
      table.sort(out, by_start)
      return out
    end
  end
  return list
end

function model:children_of(node)
  if rawget(node, "is_top") then return self.store.roots() end
  return node.children or {}
end

function model:is_folded(span)
  local v = self.fold[span]
  if v == nil then return self.fold_default end
  return v
end

function model:group_open(g)
  local v = self.gopen[g.first]
  if v == nil then return not self.group_default end
  return v
end

-- Rows below a node (not counting the node's own row).
local inner

local function item_rows(self, item)
  if rawget(item, "group") then
    if not self:group_open(item) then return 1 end
    return 1 + inner(self, item)
  end
  local kids = item.children
  if not kids or #kids == 0 or self:is_folded(item) then return 1 end
  return 1 + inner(self, item)
end

-- The cache of a node: { gen, items, cum } (cum[i] = rows of items 1..i).
local function cache(self, node)
  local c = rawget(node, "_vc")
  if c and c.gen == self.gen then return c end
  local items
  if rawget(node, "group") then
    items = node.members
  else
    local kids = ordered(self:children_of(node))
    -- traces (the top level) are never grouped: each is worth its own row
    local min = rawget(node, "is_top") and math.huge or model.MIN_RUN
    local runs = false
    if #kids >= min then
      local run = 1
      for i = 2, #kids do
        if kids[i].name == kids[i - 1].name then
          run = run + 1
          if run >= min then runs = true break end
        else
          run = 1
        end
      end
    end
    if not runs then
      -- no group: the children are the items (no copy)
      items = kids
      for k = 1, #kids do kids[k]._vg, kids[k]._vi = nil, k end
    else
      items = {}
      local n, i = 0, 1
      while i <= #kids do
        local j = i
        local name = kids[i].name
        while j < #kids and kids[j + 1].name == name do j = j + 1 end
        if j - i + 1 >= min then
          local members = table.move(kids, i, j, 1, {})
          n = n + 1
          items[n] = { group = true, name = name, first = kids[i], members = members, parent = node }
          for k, m in ipairs(members) do m._vg, m._vi = items[n], k end
          items[n]._vi = n
        else
          for k = i, j do
            n = n + 1
            items[n] = kids[k]
            kids[k]._vg, kids[k]._vi = nil, n
          end
        end
        i = j + 1
      end
    end
  end
  local cum, total = {}, 0
  for i = 1, #items do
    total = total + item_rows(self, items[i])
    cum[i] = total
  end
  c = { gen = self.gen, items = items, cum = cum }
  node._vc = c
  return c
end

inner = function(self, node)
  local c = cache(self, node)
  return c.cum[#c.cum] or 0
end

-- Drops the caches from a span up to the top (called for every changed
-- span). With `batch` (a number unique to one batch of changes) a walk stops
-- at a span an earlier walk of the same batch passed: above it, everything
-- is already dropped.
function model:touch(span, batch)
  local store = self.store
  local s, guard = span, 0
  while s and guard < 10000 do
    if batch then
      if rawget(s, "_vt") == batch then break end
      s._vt = batch
    end
    s._vc = nil
    local g = rawget(s, "_vg")
    if g then g._vc = nil end
    s, guard = store:parent(s), guard + 1
  end
  self.top._vc = nil
end

function model:count()
  return inner(self, self.top)
end

-- Row k (1-based): { item, span, group, depth, lasts = {bool per level} }.
function model:row(k)
  local node, lasts, depth = self.top, {}, 0
  while true do
    local c = cache(self, node)
    local cum = c.cum
    local lo, hi = 1, #cum
    if hi == 0 or k < 1 or k > cum[hi] then return nil end
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] >= k then hi = mid else lo = mid + 1 end
    end
    local item = c.items[lo]
    depth = depth + 1
    lasts[depth] = lo == #cum
    k = k - (cum[lo - 1] or 0)
    if k == 1 then
      return {
        item = item, span = (not rawget(item, "group")) and item or nil,
        group = rawget(item, "group") and item or nil,
        depth = depth - 1, lasts = lasts, parent = node,
      }
    end
    node, k = item, k - 1
  end
end

-- Iterates rows from k on (for plain output): returns a function giving rows.
function model:rows(from)
  local k = (from or 1) - 1
  return function()
    k = k + 1
    return self:row(k)
  end
end

local function parent_of(self, s)
  return self.store:parent(s)
end

-- The chain from a span up to its root: { span, parent, ..., root }.
local function chain_of(self, span)
  local chain, s = {}, span
  while s and #chain < 10000 do
    chain[#chain + 1] = s
    s = parent_of(self, s)
  end
  return chain
end

local function position(c, it)
  local pos = rawget(it, "_vi")
  if pos and c.items[pos] == it then return pos end
  for j, x in ipairs(c.items) do
    if x == it then return j end
  end
  return nil
end

-- The row of a span (or, with as_group, of the group of repeated siblings
-- that starts with it), or nil when it is folded out of sight.
function model:index_of(span, as_group)
  if span == nil then return nil end
  local chain = chain_of(self, span)
  local row, node = 0, self.top
  for i = #chain, 1, -1 do
    local sp = chain[i]
    local c = cache(self, node)
    local g = rawget(sp, "_vg")
    if g and g.parent == node and c.items[g._vi] == g then
      row = row + (c.cum[g._vi - 1] or 0) + 1
      if i == 1 and as_group then return row end
      if not self:group_open(g) then return nil end
      local gc = cache(self, g)
      local pos = position(gc, sp)
      if not pos then return nil end
      row = row + (gc.cum[pos - 1] or 0) + 1
    else
      local pos = position(c, sp)
      if not pos then return nil end
      row = row + (c.cum[pos - 1] or 0) + 1
    end
    if i > 1 and self:is_folded(sp) then return nil end
    node = sp
  end
  return row
end

-- Unfolds every ancestor (and opens its group) so a span gets a row.
function model:reveal(span)
  local chain = chain_of(self, span)
  for i = #chain, 1, -1 do
    local sp = chain[i]
    cache(self, chain[i + 1] or self.top)
    local g = rawget(sp, "_vg")
    if g then self.gopen[g.first] = true end
    if i > 1 then self.fold[sp] = false end
  end
  self:touch(span)
  return self:index_of(span)
end

function model:toggle(row)
  local item = row.item
  if rawget(item, "group") then
    self.gopen[item.first] = not self:group_open(item)
    self:touch(item.first)
  elseif item.children and #item.children > 0 then
    self.fold[item] = not self:is_folded(item)
    self:touch(item)
  else
    return false
  end
  return true
end

function model:collapse_all()
  self.fold, self.gopen = setmetatable({}, { __mode = "k" }), setmetatable({}, { __mode = "k" })
  self.fold_default, self.group_default = true, true
  self.gen = self.gen + 1
end

function model:expand_all()
  self.fold, self.gopen = setmetatable({}, { __mode = "k" }), setmetatable({}, { __mode = "k" })
  self.fold_default, self.group_default = false, false
  self.gen = self.gen + 1
end

-- Whether a row's item has rows below it that are hidden (folded or collapsed).
function model:hidden(row)
  local item = row.item
  if rawget(item, "group") then return not self:group_open(item) end
  return item.children and #item.children > 0 and self:is_folded(item) or false
end

-- Every span in tree order (depth first, children by start time), ignoring
-- folds: the order n/N walk search matches in.
function model:each_span(fn)
  local stack = { }
  local roots = ordered(self.store.roots())
  for i = #roots, 1, -1 do stack[#stack + 1] = roots[i] end
  while #stack > 0 do
    local s = stack[#stack]
    stack[#stack] = nil
    fn(s)
    local kids = s.children
    if kids and #kids > 0 then
      kids = ordered(kids)
      for i = #kids, 1, -1 do stack[#stack + 1] = kids[i] end
    end
  end
end

return model
