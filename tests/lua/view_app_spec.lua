-- The interactive viewer driven without a terminal: keys in, the drawn
-- screen (what the terminal would show) out; plus the screen diff and the
-- key decoder underneath.
local fake = require("view_fake")
local app = require("spanline.view.app")
local screen = require("spanline.view.screen")
local term = require("spanline.view.term")

local function fake_term(w, h)
  return { w = w, h = h, size = function(self) return self.w, self.h end, write = function() end }
end

local function start(store, opts)
  opts = opts or {}
  local a = app.new({ store = store, term = fake_term(opts.w or 100, opts.h or 30), mode = opts.mode })
  a:absorb()
  a:render()
  return a
end

local function keys(a, ...)
  for _, k in ipairs({ ... }) do a:key(k) end
  a:absorb()
  a:render()
  return a.screen:shown()
end

local function find(lines, pattern)
  for i, l in ipairs(lines) do
    if l:find(pattern) then return i, l end
  end
  return nil
end

describe("view.app", function()
  it("draws header, rows, details pane and footer", function()
    local a = start(fake.shop())
    local lines = a.screen:shown()
    assert.matches("^%[logical, bars per trace%] 13 spans, 3 traces, 1 open, 1 error, 1 abandoned", lines[1])
    assert.matches("^checkout ", lines[2])
    assert.matches("^├─ db%.query", lines[3])
    assert.truthy(find(lines, "^── checkout"))       -- details of the selection
    assert.truthy(find(lines, "attrs user=\"bob\""))
    assert.matches("q quit", lines[30])
  end)

  it("moves, folds and shows details of the selected span", function()
    local a = start(fake.shop())
    local lines = keys(a, "j", "j")
    assert.equal("a3", fake.name_of(a.store, a.sel.ref))
    assert.truthy(find(lines, "^── http%.get"))
    assert.truthy(find(lines, "events %+1%.00ms retry attempt=2"))
    assert.truthy(find(lines, "status error: timeout"))
    lines = keys(a, "enter")
    assert.truthy(find(lines, "^├─ ▸ http%.get %(%+1%)"))
    assert.is_nil(find(lines, "parse"))
    lines = keys(a, "space")
    lines = keys(a, " ")
    assert.truthy(find(lines, "│  └─ parse"))
    lines = keys(a, "G")
    assert.equal("o", fake.name_of(a.store, a.sel.ref))
    lines = keys(a, "g", "[")
    assert.is_nil(find(lines, "db%.query"))
    lines = keys(a, "]")
    assert.truthy(find(lines, "├─ ▾ cache%.get × 5"))
  end)

  it("searches, counts and highlights matches, n/N walk them", function()
    local a = start(fake.shop())
    local lines = keys(a, "/", "c", "a", "c", "h", "e")
    assert.matches("^/cache", lines[30])
    lines = keys(a, "enter")
    assert.equal("r1", fake.name_of(a.store, a.sel.ref))                   -- revealed inside the group
    assert.matches("match 1/5 for 'cache'", lines[30])
    assert.truthy(find(lines, "├─ ▾ cache%.get × 5"))
    keys(a, "n", "n")
    assert.equal("r3", fake.name_of(a.store, a.sel.ref))
    lines = keys(a, "N", "N", "N")
    assert.equal("r5", fake.name_of(a.store, a.sel.ref))                   -- wraps around
    assert.matches("match 5/5", lines[30])
    -- matches are drawn in the "match" style
    local y = find(lines, "cache%.get  ")
    local x = a.screen.prev.chars[y]
    local styles = a.screen.prev.styles[y]
    local col
    for i = 1, #x do if x[i] == "c" and x[i + 1] == "a" then col = i break end end
    assert.matches("^match", styles[col])
  end)

  it("searches from the selection: a group's first span, or the next match after it", function()
    local a = start(fake.shop())
    keys(a, "j", "j", "j", "j")                         -- the group cache.get × 5
    assert.is_true(a.sel.group)
    keys(a, "/", "c", "a", "c", "h", "e", "enter")
    assert.equal("r1", fake.name_of(a.store, a.sel.ref))
    -- "o" matches checkout, worker, remote.handler, orphan.job (in tree order)
    keys(a, "g", "j", "/", "o", "enter")                -- from db.query, not a match
    assert.equal("w", fake.name_of(a.store, a.sel.ref))                    -- the next match after it
    keys(a, "N")
    assert.equal("a1", fake.name_of(a.store, a.sel.ref))
    keys(a, "n", "n")
    assert.equal("x", fake.name_of(a.store, a.sel.ref))
    local lines = keys(a, "n")
    assert.equal("o", fake.name_of(a.store, a.sel.ref))
    assert.matches("match 4/4 for 'o'", lines[30])
    keys(a, "n")
    assert.equal("a1", fake.name_of(a.store, a.sel.ref))                   -- wraps to checkout
  end)

  it("goes left to the group a span is in, then to the parent", function()
    local a = start(fake.shop())
    keys(a, "/", "c", "a", "c", "h", "e", "enter", "esc")
    assert.equal("r1", fake.name_of(a.store, a.sel.ref))                   -- inside the opened group
    keys(a, "j", "left")
    assert.is_true(a.sel.group)                         -- r2's group row
    assert.equal("r1", fake.name_of(a.store, a.sel.ref))
    local lines = keys(a, "left")                       -- an open group: closes it
    assert.truthy(find(lines, "├─ ▸ cache%.get × 5"))
    keys(a, "g", "j", "left")                           -- db.query: up to checkout
    assert.equal("a1", fake.name_of(a.store, a.sel.ref))
    assert.equal(1, a.sel_row)
  end)

  it("toggles to time mode and back, keeping the selection", function()
    local a = start(fake.shop(), { mode = "logical" })
    keys(a, "j", "j", "j")                              -- parse
    assert.equal("a4", fake.name_of(a.store, a.sel.ref))
    local lines = keys(a, "t")
    assert.equal("time", a.mode)
    assert.matches("^%[time, buckets of 1%.00ms%] ", lines[1])
    assert.truthy(find(lines, "^▾ 16:00:00%.000 %+0%.000000s  1 span  slowest checkout 20%.0ms"))
    assert.equal("a4", fake.name_of(a.store, a.sel.ref))
    assert.matches("parse", lines[a.sel_row - a.top + 2])
    keys(a, "t")
    assert.equal("logical", a.mode)
    assert.equal("a4", fake.name_of(a.store, a.sel.ref))
  end)

  it("keeps the selection on its span while new spans arrive above it", function()
    local store, h = fake.shop()
    local a = start(store, { h = 8 })                    -- 6 rows of list: it scrolls
    keys(a, "j", "j", "j", "j", "j")                     -- worker
    assert.equal("w", fake.name_of(a.store, a.sel.ref))
    local y_before = a.sel_row - a.top
    assert.equal(5, y_before)
    h.start("n1", "a1", "early.child", 0.5)
    h.start("n2", "a1", "another", 0.7)
    local lines = keys(a)
    assert.equal("w", fake.name_of(a.store, a.sel.ref))
    assert.equal(y_before, a.sel_row - a.top)
    assert.matches("^├─ worker", lines[a.sel_row - a.top + 2])
    assert.matches("^├─ another", lines[2])              -- scrolled by the two new rows
    assert.equal("early.child", a:view():row(2).span.name)
  end)

  it("draws every key's result at any terminal size, never past the edge", function()
    for _, size in ipairs({ { 1, 1 }, { 5, 2 }, { 20, 5 }, { 30, 10 }, { 200, 60 } }) do
      local a = start(fake.shop(), { w = size[1], h = size[2] })
      for _, k in ipairs({ "j", "j", "enter", "?", "x", "t", "G", "/", "c", "enter", "n", "t",
                           "[", "]", "g", "left", "right", "pgdn", "pgup", "f", "f" }) do
        local lines = keys(a, k)
        assert.equal(size[2], #lines)
        for _, l in ipairs(lines) do assert.equal(size[1], utf8.len(l)) end
      end
    end
  end)

  it("quits on q and shows help on ?", function()
    local a = start(fake.shop())
    local lines = keys(a, "?")
    assert.truthy(find(lines, "spanline view: keys"))
    lines = keys(a, "x")
    assert.is_nil(find(lines, "spanline view: keys"))
    keys(a, "q")
    assert.is_true(a.quit)
  end)
end)

describe("view.screen", function()
  it("writes only the cells that changed", function()
    local s = screen.new(10, 3)
    s:put(1, 1, { "hello", "n" })
    local first = s:flush()
    assert.matches("hello", first)
    s:put(1, 1, { "hello", "n" })
    assert.equal("", s:flush())
    s:put(1, 1, { "help", "n" })
    local out = s:flush()
    assert.equal("\27[1;4H\27[0mp \27[0m", out)   -- "lo" became "p "
    s:put(2, 1, { "x", "err" }, true)
    out = s:flush()
    assert.matches("\27%[2;1H", out)
    assert.matches("%[0;1;31;7mx", out)                -- selected: reversed
    assert.is_nil(out:find("help", 1, true))
  end)
end)

describe("view.screen wide characters", function()
  it("puts a wide character in two cells and writes it once", function()
    local s = screen.new(4, 1)
    s:put(1, 1, { "a中b", "n" })
    assert.equal("a中b", table.concat(s.chars[1]))
    assert.same({ "a", "中", "", "b" }, s.chars[1])
    local out = s:flush()
    assert.matches("a中b", out)
    s:put(1, 1, { "xyz中", "n" })                      -- no room for the last one
    assert.same({ "x", "y", "z", " " }, s.chars[1])
  end)
end)

describe("view.term keys", function()
  it("decodes arrows, enter, escape and text", function()
    assert.same({ "up", "down", "enter", "j", "esc", "pgdn", "ctrl-c", "é" },
      term.keys("\27[A\27[B\rj\27\27[6~\3é"))
  end)
end)
