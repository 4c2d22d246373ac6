-- model.lua: the logical view's rows (span trees), built lazily.
--
-- The key idea: no flat list of rows ever exists. Each expanded node caches
-- its visible children ("items": spans, or groups of repeated siblings) and
-- the prefix sums of their row counts, so row k is found by a binary search
-- per tree level and a 10^6-span file costs only the rows on screen. New
-- data drops the caches on the path from the changed span to the top.
--
-- Memory: the only field the viewer puts on a span is `_v`, its cache, and
-- only on spans whose children are shown. A span's place among its
-- siblings is found by binary search (items are in start order), the
-- touched set of a batch of changes is a table of its own.

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

-- The node whose cache an item's row count needs (an open group, or an
-- unfolded span with children), or nil when the item is one row.
local function expands(self, item)
  if rawget(item, "group") then
    if self:group_open(item) then return item end
    return nil
  end
  local kids = item.children
  if not kids or #kids == 0 or self:is_folded(item) then return nil end
  return item
end

local function item_rows(self, item)
  local sub = expands(self, item)
  if not sub then return 1 end
  return 1 + inner(self, sub)
end

-- The items of a node: its children in start order, runs of repeated
-- siblings replaced by groups.
local function build_items(self, node)
  if rawget(node, "group") then return node.members end
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
    return kids
  end
  local items = {}
  local n, i = 0, 1
  while i <= #kids do
    local j = i
    local name = kids[i].name
    while j < #kids and kids[j + 1].name == name do j = j + 1 end
    if j - i + 1 >= min then
      local members = table.move(kids, i, j, 1, {})
      n = n + 1
      items[n] = { group = true, name = name, first = kids[i], members = members, parent = node }
    else
      for k = i, j do
        n = n + 1
        items[n] = kids[k]
      end
    end
    i = j + 1
  end
  return items
end

local function fresh(self, node)
  local c = rawget(node, "_v")
  if c and c.gen == self.gen and c.cum then return c end
  return nil
end

-- The cache of a node: { gen, items, cum } (cum[i] = rows of items 1..i).
-- Built bottom-up with an explicit stack (a node's row count needs its
-- open children's caches first), so a 10^5-deep chain needs no recursion.
local function cache(self, node)
  local c = fresh(self, node)
  if c then return c end
  local stack, n = { node }, 1
  while n > 0 do
    local nd = stack[n]
    c = rawget(nd, "_v")
    if not c or c.gen ~= self.gen then
      c = { gen = self.gen, items = build_items(self, nd), next = 1 }
      nd._v = c
    end
    local items, pushed = c.items, false
    for i = c.next, #items do
      local sub = expands(self, items[i])
      if sub and not fresh(self, sub) then
        c.next = i
        n = n + 1
        stack[n] = sub
        pushed = true
        break
      end
    end
    if not pushed then
      local cum, total = {}, 0
      for i = 1, #items do
        total = total + item_rows(self, items[i])
        cum[i] = total
      end
      c.cum, c.next = cum, nil
      stack[n] = nil
      n = n - 1
    end
  end
  return rawget(node, "_v")
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
  local seen
  if batch then
    if self.touched_batch ~= batch then self.touched, self.touched_batch = {}, batch end
    seen = self.touched
  end
  -- no parent cycles reach here (the assembler cuts them); the bound only
  -- keeps a broken store from looping
  local s, guard, limit = span, 0, (store.counts and store.counts.spans or 0) + 2
  while s and guard < limit do
    if seen then
      if seen[s] then break end
      seen[s] = true
    end
    -- a group's cache goes with its parent's (groups are rebuilt with it)
    s._v = nil
    s, guard = store:parent(s), guard + 1
  end
  self.top._v = nil
end

function model:count()
  return inner(self, self.top)
end

-- Tree guides are drawn for at most this many levels (draw.lua may draw
-- fewer); a row keeps the "last sibling" flags of those levels and its own.
model.MAX_GUIDES = require("spanline.tree_text").MAX_GUIDES

-- The flags of a path: lasts[l] = whether the item at level l is the last
-- of its siblings, for l <= MAX_GUIDES + 1 and l = n.
local function path_lasts(pc, pi, n)
  local lasts = {}
  local m = math.min(n, model.MAX_GUIDES + 1)
  for l = 1, m do lasts[l] = pi[l] == #pc[l].cum end
  lasts[n] = pi[n] == #pc[n].cum
  return lasts
end

local function path_row(pn, pc, pi, n)
  local item = pc[n].items[pi[n]]
  local group = rawget(item, "group") and item or nil
  return {
    item = item, span = (not group) and item or nil, group = group,
    depth = n - 1, lasts = path_lasts(pc, pi, n), parent = pn[n],
  }
end

-- The path to row k: per level the node, its cache and the item's index.
local function descend(self, k, pn, pc, pi)
  local node, n = self.top, 0
  while true do
    local c = cache(self, node)
    local cum = c.cum
    local lo, hi = 1, #cum
    if hi == 0 or k < 1 or k > cum[hi] then return nil end
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] >= k then hi = mid else lo = mid + 1 end
    end
    n = n + 1
    pn[n], pc[n], pi[n] = node, c, lo
    k = k - (cum[lo - 1] or 0)
    if k == 1 then return n end
    node, k = c.items[lo], k - 1
  end
end

-- Row k (1-based): { item, span, group, depth, lasts = {bool per level} }.
function model:row(k)
  local pn, pc, pi = {}, {}, {}
  local n = descend(self, k, pn, pc, pi)
  if not n then return nil end
  return path_row(pn, pc, pi, n)
end

-- Iterates rows from k on (plain output, the rows on screen): one descent,
-- then a depth-first walk, so each further row costs O(1) whatever its
-- depth. The rows share one `lasts` table: use a row before the next call.
function model:rows(from)
  local pn, pc, pi = {}, {}, {}
  local n = descend(self, from or 1, pn, pc, pi)
  local lasts = {}
  if n then
    for l = 1, n do lasts[l] = pi[l] == #pc[l].cum end
  end
  local first = true
  local function row()
    local item = pc[n].items[pi[n]]
    local group = rawget(item, "group") and item or nil
    return {
      item = item, span = (not group) and item or nil, group = group,
      depth = n - 1, lasts = lasts, parent = pn[n],
    }
  end
  return function()
    if not n then return nil end
    if first then
      first = false
      return row()
    end
    local item = pc[n].items[pi[n]]
    local sub = expands(self, item)
    local sc = sub and cache(self, sub)
    if sc and #sc.cum > 0 then
      n = n + 1
      pn[n], pc[n], pi[n] = sub, sc, 1
    else
      while n > 0 do
        pi[n] = pi[n] + 1
        if pi[n] <= #pc[n].items then break end
        pn[n], pc[n], pi[n] = nil, nil, nil
        n = n - 1
      end
      if n == 0 then
        n = nil
        return nil
      end
    end
    lasts[n] = pi[n] == #pc[n].cum
    return row()
  end
end

local function parent_of(self, s)
  return self.store:parent(s)
end

-- The chain from a span up to its root: { span, parent, ..., root }.
local function chain_of(self, span)
  local chain, s = {}, span
  local limit = (self.store.counts and self.store.counts.spans or 0) + 2
  while s and #chain < limit do
    chain[#chain + 1] = s
    s = parent_of(self, s)
  end
  return chain
end

-- Where a span is among a node's items: its index, or the index of the
-- group holding it and its index in the group's members. Items are in
-- start order (a group sorts as its first member): binary search, with a
-- scan as the fallback should the order not hold.
local function bsearch(list, sp, key_of)
  local lo, hi = 1, #list
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if by_start(sp, key_of(list[mid])) then hi = mid - 1 else lo = mid end
  end
  return lo
end
local function first_of(item) return rawget(item, "group") and item.first or item end
local function self_of(x) return x end

local function locate(c, sp)
  local items = c.items
  if #items == 0 then return nil end
  local i = bsearch(items, sp, first_of)
  local it = items[i]
  if it == sp then return i end
  if rawget(it, "group") then
    local j = bsearch(it.members, sp, self_of)
    if it.members[j] == sp then return i, j end
  end
  for k, x in ipairs(items) do
    if x == sp then return k end
    if rawget(x, "group") then
      for j, m in ipairs(x.members) do
        if m == sp then return k, j end
      end
    end
  end
  return nil
end

-- The row of a span (or, with as_group, of the group of repeated siblings
-- that starts with it), or nil when it is folded out of sight; then also the
-- row of its nearest visible ancestor span (nil when there is none).
function model:index_of(span, as_group)
  if span == nil then return nil end
  local chain = chain_of(self, span)
  local row, node, seen = 0, self.top, nil
  for i = #chain, 1, -1 do
    local sp = chain[i]
    local c = cache(self, node)
    local pos, gpos = locate(c, sp)
    if not pos then return nil, seen end
    row = row + (c.cum[pos - 1] or 0) + 1
    if gpos then
      if i == 1 and as_group then return row end
      local g = c.items[pos]
      if not self:group_open(g) then return nil, seen end
      local gc = cache(self, g)
      row = row + (gc.cum[gpos - 1] or 0) + 1
    end
    if i > 1 and self:is_folded(sp) then return nil, row end
    seen = row
    node = sp
  end
  return row
end

-- The group of repeated siblings a span is in, or nil.
function model:group_of(span)
  local p = self.store:parent(span)
  local c = cache(self, p or self.top)
  local pos, gpos = locate(c, span)
  return gpos and c.items[pos] or nil
end

-- Unfolds every ancestor (and opens its group) so a span gets a row.
function model:reveal(span)
  local chain = chain_of(self, span)
  for i = #chain, 1, -1 do
    local sp = chain[i]
    local c = cache(self, chain[i + 1] or self.top)
    local pos, gpos = locate(c, sp)
    if gpos then self.gopen[c.items[pos].first] = true end
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
