-- model.lua: the logical view's rows (span trees), built lazily.
--
-- The key idea: no flat list of rows ever exists. Each expanded node caches
-- its visible children ("items": span refs, or groups of repeated
-- siblings) and the prefix sums of their row counts, so row k is found by
-- a binary search per tree level and a 10^6-span file costs only the rows
-- on screen. New data drops the caches on the path from the changed span
-- to the top.
--
-- Memory: spans are refs into the store (integers). The rows below a span
-- whose subtree is as the defaults say (no fold or group the user set in
-- it) are counted in C and remembered per span (memo); a cache (items and
-- prefix sums) exists only for the nodes on the paths to rows shown and
-- for subtrees holding a user's override (custom). Children come sorted
-- by start from C, runs of repeated names already grouped (a group is a
-- range of its parent's children: members are fetched when needed). A
-- span's place among its siblings is found by binary search on start
-- times.

local model = {}
model.__index = model

-- A run of at least this many same-named siblings is shown as one row.
model.MIN_RUN = 3

-- store: see view/store.lua (roots, parent, version, asm).
function model.new(store)
  local self = setmetatable({}, model)
  self.store = store
  self.top = { is_top = true }
  self.caches = {}             -- ref -> cache of a span whose children are shown
  self.custom = {}             -- ref -> true: an override is in its subtree
  self.gen = 0                 -- bumped by collapse/expand all: every cache stale
  self.fold_default = false
  self.group_default = true    -- groups of repeated siblings start collapsed
  self.fold = {}               -- ref -> folded override
  self.gopen = {}              -- first member's ref -> expanded override
  return self
end

local function is_group(item)
  return type(item) == "table" and item.group == true
end

function model:is_folded(ref)
  local v = self.fold[ref]
  if v == nil then return self.fold_default end
  return v
end

function model:group_open(g)
  local v = self.gopen[g.first]
  if v == nil then return not self.group_default end
  return v
end

-- A group's members (refs) and their child counts, fetched from C when
-- first needed (a collapsed group holds none: it is a range of its
-- parent's children).
function model:members(g)
  local m = g.members
  if m then return m, g.counts end
  local asm = self.store.asm
  local kids = asm:children(g.parent)
  m = table.move(kids, g.i, g.i + g.n - 1, 1, {})
  local counts = {}
  if not g.leaves then
    for k = 1, #m do counts[k] = asm:nchildren(m[k]) end
  end
  g.members, g.counts = m, counts
  return m, counts
end

-- Rows below a node (not counting the node's own row).
local inner

-- The node whose cache an item's row count needs (an open group, or an
-- unfolded span with children), or nil when the item is one row.
local function expands(self, item, nkids)
  if is_group(item) then
    if self:group_open(item) then return item end
    return nil
  end
  if (nkids or 0) == 0 or self:is_folded(item) then return nil end
  return item
end

-- Rows below a span in the default state: counted (and remembered) in C.
local function default_rows(self, ref)
  return self.store.asm:rows_below(ref, model.MIN_RUN, not self.group_default)
end

-- The node whose cache an item's row count needs: an open group with
-- members that have children, or an unfolded span with a user's override
-- below it; nil when C counts it (or it is one row).
local function needs_cache(self, item, nkids)
  if is_group(item) then
    if not item.leaves and self:group_open(item) then return item end
    return nil
  end
  if (nkids or 0) > 0 and self.custom[item] and not self:is_folded(item) then return item end
  return nil
end

local function item_rows(self, item, nkids)
  if is_group(item) then
    if not self:group_open(item) then return 1 end
    if item.leaves then return 1 + item.n end
    return 1 + inner(self, item)
  end
  if (nkids or 0) == 0 or self:is_folded(item) then return 1 end
  if self.custom[item] then return 1 + inner(self, item) end
  return 1 + default_rows(self, item)
end

-- A cache: { gen, items, counts, cum } (cum[i] = rows of items 1..i), or
-- flat ({ gen, flat = true, n, group }: the members of a group that are all
-- leaves, one row each, so cum[i] = i and the refs are fetched only when a
-- row is asked for).
local function nitems(c) return c.flat and c.n or #c.items end
local function cum_at(c, i)
  if c.flat then return i end
  return c.cum[i]
end
local function total_rows(c)
  if c.flat then return c.n end
  return c.cum[#c.cum] or 0
end

-- The items of a node and their child counts: its children in start order,
-- runs of repeated siblings as groups (grouped in C); the top's are the
-- roots, never grouped (each trace is worth its own row).
local function build_items(self, node)
  local asm = self.store.asm
  if node == self.top then
    local roots = self.store:roots()
    local counts = {}
    for i, r in ipairs(roots) do counts[i] = asm:nchildren(r) end
    return roots, counts
  end
  if is_group(node) then return self:members(node) end
  return asm:items(node, model.MIN_RUN)
end

local function get_cache(self, node)
  if type(node) == "table" then return node._v end
  return self.caches[node]
end

local function set_cache(self, node, c)
  if type(node) == "table" then node._v = c else self.caches[node] = c end
end

local function fresh(self, node)
  local c = get_cache(self, node)
  if c and c.gen == self.gen and (c.cum or c.flat) then return c end
  return nil
end

-- A node's cache, its items kept when only the folds changed (collapse or
-- expand all bump gen; new data drops the cache itself).
local function start_cache(self, node)
  local c = get_cache(self, node)
  if c and c.gen == self.gen then return c end
  if is_group(node) and node.leaves then
    c = { gen = self.gen, flat = true, n = node.n, group = node }
  elseif c and not c.flat then
    c = { gen = self.gen, items = c.items, counts = c.counts, next = 1 }
  else
    local items, counts = build_items(self, node)
    c = { gen = self.gen, items = items, counts = counts, next = 1 }
  end
  set_cache(self, node, c)
  return c
end

-- Built bottom-up with an explicit stack (a node's row count needs its
-- open children's caches first), so a 10^5-deep chain needs no recursion.
local function cache(self, node)
  local c = fresh(self, node)
  if c then return c end
  local stack, n = { node }, 1
  while n > 0 do
    local nd = stack[n]
    c = start_cache(self, nd)
    if c.flat then
      stack[n] = nil
      n = n - 1
    else
      local items, counts, pushed = c.items, c.counts, false
      for i = c.next, #items do
        local sub = needs_cache(self, items[i], counts[i])
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
          total = total + item_rows(self, items[i], counts[i])
          cum[i] = total
        end
        c.cum, c.next = cum, nil
        stack[n] = nil
        n = n - 1
      end
    end
  end
  return get_cache(self, node)
end

inner = function(self, node)
  return total_rows(cache(self, node))
end

-- The item i of a cache and its child count.
local function item_at(self, c, i)
  if c.flat then return (self:members(c.group))[i], 0 end
  return c.items[i], c.counts[i]
end

-- Drops what was counted for these spans and all their ancestors (one
-- batch of changed spans; the walk runs in C).
function model:touch_all(refs)
  if #refs == 0 then return end
  local caches = self.caches
  for _, r in ipairs(self.store.asm:ancestors(refs)) do caches[r] = nil end
  self.top._v = nil
end

-- A user's override at ref (a fold, or a group of ref's children): ref and
-- its ancestors count their rows in Lua from now on.
local function mark_custom(self, ref)
  local custom = self.custom
  while ref and not custom[ref] do
    custom[ref] = true
    ref = self.store:parent(ref)
  end
end

-- Drops what was counted for a span and its ancestors (a group's cache
-- goes with its parent's: groups are rebuilt with it).
function model:touch(ref)
  self:touch_all({ ref })
end

function model:count()
  return inner(self, self.top)
end

-- Tree guides are drawn for at most this many levels (draw.lua may draw
-- fewer); a row keeps the "last sibling" flags of those levels and its own.
model.MAX_GUIDES = require("spanline.tree_text").MAX_GUIDES

-- A row: { item, ref, span (its fields, for drawing), group, depth,
-- lasts = {bool per level}, parent, nkids }.
local function make_row(self, c, i, depth, lasts, parent)
  local item, nkids = item_at(self, c, i)
  if is_group(item) then
    return { item = item, group = item, depth = depth, lasts = lasts, parent = parent }
  end
  return { item = item, ref = item, span = self.store:span(item), depth = depth, lasts = lasts,
    parent = parent, nkids = nkids or 0 }
end

-- The flags of a path: lasts[l] = whether the item at level l is the last
-- of its siblings, for l <= MAX_GUIDES + 1 and l = n.
local function path_lasts(pc, pi, n)
  local lasts = {}
  local m = math.min(n, model.MAX_GUIDES + 1)
  for l = 1, m do lasts[l] = pi[l] == nitems(pc[l]) end
  lasts[n] = pi[n] == nitems(pc[n])
  return lasts
end

-- The path to row k: per level the node, its cache and the item's index.
local function descend(self, k, pn, pc, pi)
  local node, n = self.top, 0
  while true do
    local c = cache(self, node)
    local lo, hi = 1, nitems(c)
    if hi == 0 or k < 1 or k > cum_at(c, hi) then return nil end
    if c.flat then
      lo = k
    else
      local cum = c.cum
      while lo < hi do
        local mid = (lo + hi) // 2
        if cum[mid] >= k then hi = mid else lo = mid + 1 end
      end
    end
    n = n + 1
    pn[n], pc[n], pi[n] = node, c, lo
    k = k - (lo > 1 and cum_at(c, lo - 1) or 0)
    if k == 1 then return n end
    node, k = item_at(self, c, lo), k - 1
  end
end

-- Row k (1-based), or nil.
function model:row(k)
  local pn, pc, pi = {}, {}, {}
  local n = descend(self, k, pn, pc, pi)
  if not n then return nil end
  return make_row(self, pc[n], pi[n], n - 1, path_lasts(pc, pi, n), pn[n])
end

-- Iterates rows from k on (plain output, the rows on screen): one descent,
-- then a depth-first walk, so each further row costs O(1) whatever its
-- depth. The rows share one `lasts` table: use a row before the next call.
function model:rows(from)
  local pn, pc, pi = {}, {}, {}
  local n = descend(self, from or 1, pn, pc, pi)
  local lasts = {}
  if n then
    for l = 1, n do lasts[l] = pi[l] == nitems(pc[l]) end
  end
  local first = true
  return function()
    if not n then return nil end
    if first then
      first = false
      return make_row(self, pc[n], pi[n], n - 1, lasts, pn[n])
    end
    local sub = expands(self, item_at(self, pc[n], pi[n]))
    local sc = sub and cache(self, sub)
    if sc and nitems(sc) > 0 then
      n = n + 1
      pn[n], pc[n], pi[n] = sub, sc, 1
    else
      while n > 0 do
        pi[n] = pi[n] + 1
        if pi[n] <= nitems(pc[n]) then break end
        pn[n], pc[n], pi[n] = nil, nil, nil
        n = n - 1
      end
      if n == 0 then
        n = nil
        return nil
      end
    end
    lasts[n] = pi[n] == nitems(pc[n])
    return make_row(self, pc[n], pi[n], n - 1, lasts, pn[n])
  end
end

-- The chain from a span up to its root: { ref, parent, ..., root }.
local function chain_of(self, ref)
  local chain, r = {}, ref
  local limit = (self.store.counts and self.store.counts.spans or 0) + 2
  while r and #chain < limit do
    chain[#chain + 1] = r
    r = self.store:parent(r)
  end
  return chain
end

-- Where a span is among a node's items: its index, or the index of the
-- group holding it and its index in the group's members. Items are in
-- start order (a group sorts as its first member): binary search on start
-- times, then the items of equal start, with a scan as the fallback should
-- the order not hold.
local function first_of(item) return is_group(item) and item.first or item end

local function find_in(list, key_of, start_of, target)
  local lo, hi = 1, #list
  while lo < hi do
    local mid = (lo + hi) // 2
    if (start_of(key_of(list[mid])) or 0) < target then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function locate(self, c, ref)
  local items = c.flat and self:members(c.group) or c.items
  if #items == 0 then return nil end
  local asm = self.store.asm
  local function start_of(r) return asm:start(r) end
  local target = start_of(ref) or 0
  -- the item holding ref is the last one starting at or before it
  local i = find_in(items, first_of, start_of, target)
  for k = math.max(1, i - 1), #items do
    local it = items[k]
    if it == ref then return k end
    if is_group(it) then
      local m = self:members(it)
      local j = find_in(m, function(x) return x end, start_of, target)
      for jj = j, #m do
        if m[jj] == ref then return k, jj end
        if (start_of(m[jj]) or 0) > target then break end
      end
    end
    if (start_of(first_of(it)) or 0) > target then break end
  end
  for k, x in ipairs(items) do
    if x == ref then return k end
    if is_group(x) then
      for j, m in ipairs((self:members(x))) do
        if m == ref then return k, j end
      end
    end
  end
  return nil
end

-- The row of a span (or, with as_group, of the group of repeated siblings
-- that starts with it), or nil when it is folded out of sight; then also the
-- row of its nearest visible ancestor span (nil when there is none).
function model:index_of(ref, as_group)
  if ref == nil then return nil end
  local chain = chain_of(self, ref)
  local row, node, seen = 0, self.top, nil
  for i = #chain, 1, -1 do
    local sp = chain[i]
    local c = cache(self, node)
    local pos, gpos = locate(self, c, sp)
    if not pos then return nil, seen end
    row = row + (pos > 1 and cum_at(c, pos - 1) or 0) + 1
    if gpos then
      if i == 1 and as_group then return row end
      local g = item_at(self, c, pos)
      if not self:group_open(g) then return nil, seen end
      local gc = cache(self, g)
      row = row + (gpos > 1 and cum_at(gc, gpos - 1) or 0) + 1
    end
    if i > 1 and self:is_folded(sp) then return nil, row end
    seen = row
    node = sp
  end
  return row
end

-- The group of repeated siblings a span is in, or nil.
function model:group_of(ref)
  local p = self.store:parent(ref)
  local c = cache(self, p or self.top)
  local pos, gpos = locate(self, c, ref)
  return gpos and item_at(self, c, pos) or nil
end

-- Unfolds every ancestor (and opens its group) so a span gets a row.
function model:reveal(ref)
  local chain = chain_of(self, ref)
  for i = #chain, 1, -1 do
    local sp = chain[i]
    local c = cache(self, chain[i + 1] or self.top)
    local pos, gpos = locate(self, c, sp)
    if gpos then
      local g = item_at(self, c, pos)
      self.gopen[g.first] = true
      mark_custom(self, g.parent)
    end
    if i > 1 then
      self.fold[sp] = false
      mark_custom(self, sp)
    end
  end
  self:touch(ref)
  return self:index_of(ref)
end

function model:toggle(row)
  local item = row.item
  if is_group(item) then
    self.gopen[item.first] = not self:group_open(item)
    mark_custom(self, item.parent)
    self:touch(item.first)
  elseif (row.nkids or 0) > 0 then
    self.fold[item] = not self:is_folded(item)
    mark_custom(self, item)
    self:touch(item)
  else
    return false
  end
  return true
end

-- Every override goes: the defaults count everything again (in C).
local function reset(self, fold_default, group_default)
  self.fold, self.gopen, self.custom, self.caches = {}, {}, {}, {}
  self.fold_default, self.group_default = fold_default, group_default
  self.gen = self.gen + 1
  self.top._v = nil
end

function model:collapse_all() reset(self, true, true) end
function model:expand_all() reset(self, false, false) end

-- Whether a row's item has rows below it that are hidden (folded or collapsed).
function model:hidden(row)
  local item = row.item
  if is_group(item) then return not self:group_open(item) end
  return (row.nkids or 0) > 0 and self:is_folded(item)
end

-- The spans whose name contains term, in tree order (depth first, children
-- by start, ignoring folds: the order n/N walk), and how many of them come
-- before span cur (nil when cur is not in any tree shown).
function model:search(term, cur)
  return self.store.asm:search(term, cur, self.store:roots())
end

return model
