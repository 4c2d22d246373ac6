-- The viewer's store over the real reader and the C assembler: counts,
-- time ranges, the tree staying right as records arrive in pieces
-- (including a W3C (16-hex) parent), and Lua state only for shown parents.
local core = require("spanline.core")
local store_mod = require("spanline.view.store")
local model = require("spanline.view.model")

local T = 1764000000000000000
local function id(n) return string.format("%032x", n) end
local function start(n, parent, name, ms, trace)
  return string.format('{"type":"start","id":"%s","trace":"%s",%s"name":"%s","ts":%d,"lane":1}\n',
    id(n), trace or id(1), parent and ('"parent":"' .. parent .. '",') or "", name, T + ms * 1000000)
end
local function finish(n, ms, status)
  return string.format('{"type":"end","id":"%s","ts":%d,"status":"%s"}\n', id(n), T + ms * 1000000, status or "ok")
end

local function feed(store, text)
  assert.equal("eof", store:feed(core.reader_string(text)))
end

local function names(m)
  local out = {}
  for row in m:rows(1) do
    out[#out + 1] = string.rep(" ", row.depth) .. (row.span and row.span.name or row.group.name .. " x" .. row.group.n)
  end
  return out
end

describe("view.store over the C assembler", function()
  it("counts spans by status and keeps each trace's time range", function()
    local store = store_mod.new()
    feed(store, start(1, nil, "root", 0) .. start(2, id(1), "a", 1) .. finish(2, 3, "error")
      .. start(3, id(1), "b", 4) .. finish(3, 5, "abandoned"))
    assert.same({ spans = 3, open = 1, errors = 1, abandoned = 1 }, store.counts)
    local lo, hi = store:range(store:find(id(2)))
    assert.equal(T, lo)
    assert.equal(T + 5000000, hi)            -- root still open: up to the last timestamp
    feed(store, finish(1, 9))
    assert.equal(0, store.counts.open)
    assert.equal(T + 9000000, select(2, store:range(store:find(id(1)))))
    assert.equal(3, #store:drain())          -- each changed span once (root twice)
    assert.equal(0, #store:drain())
  end)

  it("keeps the rows right while a tree arrives child first", function()
    local store = store_mod.new()
    local m = model.new(store)
    local function step(text)
      feed(store, text)
      for _, s in ipairs(store:drain()) do m:touch(s) end
      return names(m)
    end
    assert.same({ "child" }, step(start(2, id(1), "child", 2)))     -- orphan for now
    assert.is_true(store:span(store:find(id(2))).orphan)
    assert.same({ "root", " child" }, step(start(1, nil, "root", 0)))
    -- a parent given as a W3C span-id (last 16 hex digits of a local span)
    assert.same({ "root", " child", "  via.w3c" },
      step(start(5, id(2):sub(17), "via.w3c", 3)))
    assert.same({ "root", " child", "  via.w3c", "  leaf" }, step(start(6, id(2), "leaf", 4)))
    for n = 7, 10 do step(start(n, id(1), "repeat", 5 + n)) end
    assert.same({ "root", " child", "  via.w3c", "  leaf", " repeat x4" }, names(m))
  end)

  it("holds Lua state only for parents whose children are shown", function()
    local store = store_mod.new()
    local text = start(1, nil, "root", 0)
    for n = 2, 6 do text = text .. start(n, id(1), "rep", n) .. finish(n, n + 0.5) end
    text = text .. start(7, id(2), "leaf", 3) .. finish(7, 3.2) .. finish(1, 9)
    feed(store, text)
    local a = require("spanline.view.app").new({ store = store,
      term = { size = function() return 100, 30 end, write = function() end } })
    a:absorb()
    a:render()
    for _, k in ipairs({ "]", "j", "j", "left", "t", "j", "t", "G" }) do
      a:key(k)
      a:render()
    end
    local m = a.views.logical
    assert.equal(7, a:view():count())              -- root, rep × 5 open, rep 2 folded
    assert.is_true(m:is_folded(store:find(id(2))))
    for n = 1, 7 do
      local ref = store:find(id(n))
      -- a cache only for spans whose children are shown (left folded: rep 2)
      local shown = store:nchildren(ref) > 0 and not m:is_folded(ref)
      assert.equal(shown, m.caches[ref] ~= nil, "span " .. n)
    end
    assert.is_nil(store.objs)                      -- no lasting table per span
  end)

  it("shows only the chosen trace with --trace", function()
    local store = store_mod.new({ trace = id(50):sub(1, 31) })
    feed(store, start(1, nil, "one", 0) .. start(50, nil, "fifty", 1, id(50)) .. start(51, id(50), "kid", 2, id(50)))
    assert.equal(2, store.counts.spans)
    assert.same({ "fifty", " kid" }, names(model.new(store)))
  end)
end)
