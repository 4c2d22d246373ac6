-- The viewer's row models on stores built by hand: tree rows, folds, groups of
-- repeated siblings, lookups both ways, and the time buckets.
local fake = require("view_fake")
local model = require("spanline.view.model")
local timeline = require("spanline.view.timeline")
local draw = require("spanline.view.draw")
local fmt = require("spanline.view.fmt")

local function names(view, ctxw)
  local out = {}
  for row in view:rows(1) do
    if row.group then
      out[#out + 1] = string.rep(" ", row.depth) .. row.group.name .. " x" .. row.group.n
    elseif row.span then
      out[#out + 1] = string.rep(" ", row.depth) .. row.span.name
    else
      out[#out + 1] = "bucket " .. row.bucket.key
    end
  end
  return out
end

describe("view.fmt", function()
  it("formats durations with three significant digits", function()
    assert.equal("950ns", fmt.duration(950))
    assert.equal("12.3us", fmt.duration(12345))
    assert.equal("4.50ms", fmt.duration(4500000))
    assert.equal("1.25s", fmt.duration(1250000000))
    assert.equal("3m05s", fmt.duration(185000000000))
  end)
  it("cuts and pads by code points", function()
    assert.equal("ab…", fmt.cut("abcdef", 3))
    assert.equal("├─ x  ", fmt.pad("├─ x", 6))
    assert.equal(6, fmt.width(fmt.pad("├─ x", 6)))
    assert.equal("?a", fmt.cut("\27a", 5))
  end)
  it("counts East Asian wide characters as two columns", function()
    assert.equal(4, fmt.width("中文"))
    assert.equal("中… ", fmt.pad("中文x", 4))          -- 2 + 1 for the mark, 1 of padding
    assert.equal(4, fmt.width(fmt.pad("中文x", 4)))
    assert.equal("  中", fmt.rpad("中", 4))
  end)
  it("places bars in a range", function()
    assert.equal("██        ", fmt.bar(10, 0, 100, 0, 20))
    assert.equal("     █████", fmt.bar(10, 0, 100, 50, 100))
    assert.equal("    █     ", fmt.bar(10, 0, 100, 40, 41))     -- at least one column
    assert.equal("   ██████▶", fmt.bar(10, 0, 100, 30, nil, true)) -- open: to the edge
  end)
end)

describe("view.model (logical)", function()
  it("lists trees in start order with repeated siblings collapsed", function()
    local store = fake.shop()
    local m = model.new(store)
    store:drain()
    assert.same({
      "checkout", " db.query", " http.get", "  parse", " cache.get x5", " worker", " gc'd",
      "remote.handler", "orphan.job",
    }, names(m))
    assert.equal(9, m:count())
  end)

  it("draws tree lines, open, error, abandoned, orphan and remote markers", function()
    local store = fake.shop()
    local m = model.new(store)
    local ctx = { width = 100, store = store, now = store:now(), view = m }
    local lines = {}
    for row in m:rows(1) do lines[#lines + 1] = draw.text(draw.logical(row, ctx)) end
    assert.matches("^checkout%s+20%.0ms ok", lines[1])
    assert.matches("^├─ db%.query%s+3%.00ms ok", lines[2])
    assert.matches("^├─ http%.get%s+4%.00ms error: timeout", lines[3])
    assert.matches("^│  └─ parse%s+1%.00ms ok", lines[4])
    assert.matches("^├─ ▸ cache%.get × 5%s+Σ2%.50ms ok", lines[5])
    -- open: running clock up to the last timestamp (20ms), marked, bar to the edge
    assert.matches("^├─ worker%s+≥4%.00ms %(did not end%)%s+███▶$", lines[6])
    assert.matches("^└─ gc'd%s+1%.00ms abandoned%s+▒$", lines[7])
    assert.matches("remote%.handler  %[remote parent 00f067aa0ba902b7%]", lines[8])
    assert.matches("orphan%.job  %[orphan: parent …" .. fake.id("zz"):sub(-8) .. " not seen%]", lines[9])
  end)

  it("folds and unfolds subtrees and groups", function()
    local store = fake.shop()
    local m = model.new(store)
    local http = m:row(3)
    assert.equal("http.get", http.span.name)
    assert.is_true(m:toggle(http))
    assert.equal(8, m:count())
    assert.equal("cache.get", m:row(4).group.name)
    assert.is_true(m:toggle(m:row(4)))          -- open the group
    assert.equal(13, m:count())
    assert.equal("cache.get", m:row(5).span.name)
    assert.equal(2, m:row(5).depth)
    assert.is_false(m:toggle(m:row(5)))         -- a leaf does not fold
    m:collapse_all()
    assert.same({ "checkout", "remote.handler", "orphan.job" }, names(m))
    m:expand_all()
    assert.equal(14, m:count())                 -- 13 spans and the open group's header
  end)

  it("finds the row of a span and reveals folded ones", function()
    local store = fake.shop()
    local m = model.new(store)
    local parse = fake.ref(store, "a4")
    assert.equal(4, m:index_of(parse))
    m:toggle(m:row(3))
    assert.is_nil(m:index_of(parse))
    local r3 = fake.ref(store, "r3")
    assert.is_nil(m:index_of(r3))               -- inside the collapsed group
    assert.equal(4, m:index_of(r3, true) and 4)
    local row = m:reveal(r3)
    assert.equal(r3, m:row(row).ref)
    assert.equal(r3, m:row(m:index_of(r3)).ref)
    row = m:reveal(parse)
    assert.equal(parse, m:row(row).ref)
  end)

  it("takes in new spans, adopting orphans when their parent arrives", function()
    local store, h = fake.shop()
    local m = model.new(store)
    store:drain()
    assert.equal(9, m:count())
    h.start("zz", nil, "late.parent", 2.5, { trace = "t2" })
    for _, s in ipairs(store:drain()) do m:touch(s) end
    m:touch(fake.ref(store, "o"))
    local n = names(m)
    assert.equal("late.parent", n[9])
    assert.equal(" orphan.job", n[10])
  end)

  it("searches every span in tree order, folds ignored", function()
    local store = fake.shop()
    local m = model.new(store)
    m:collapse_all()
    local found, before = m:search("", fake.ref(store, "r1"))
    local seen = {}
    for i, r in ipairs(found) do seen[i] = fake.name_of(store, r) end
    assert.same({ "a1", "a2", "a3", "a4", "r1", "r2", "r3", "r4", "r5", "w", "g", "x", "o" }, seen)
    assert.equal(4, before)                     -- a1 a2 a3 a4 come before r1
    found = m:search("CACHE")                   -- any case
    assert.equal(5, #found)
    assert.equal(0, #m:search("nothing"))
  end)
end)

describe("view.timeline (time mode)", function()
  it("buckets spans by start time with counts, errors and the slowest", function()
    local store = fake.shop()
    local tl = timeline.new(store, 5 * fake.MS)
    local n = names(tl)
    -- buckets [0,5) [5,10) [10,15) [15,20)
    local T = 0                                 -- buckets count from the first start
    assert.same({
      "bucket " .. T, "checkout", "db.query", "remote.handler", "orphan.job",
      "bucket " .. T + 1, "http.get", "parse",
      "bucket " .. T + 2, "cache.get", "cache.get", "cache.get", "cache.get",
      "bucket " .. T + 3, "cache.get", "worker", "gc'd",
    }, (function()
      local out = {}
      for _, x in ipairs(n) do out[#out + 1] = x:gsub("^%s+", "") end
      return out
    end)())
    local st = tl:stats(tl:row(6).bucket)
    assert.equal(2, st.count)
    assert.equal(1, st.errors)
    assert.equal("http.get", st.slowest.name)
    st = tl:stats(tl:row(14).bucket)
    assert.equal(1, st.open)
  end)

  it("folds buckets and finds spans", function()
    local store = fake.shop()
    local tl = timeline.new(store, 5 * fake.MS)
    local worker = fake.ref(store, "w")
    assert.equal(16, tl:index_of(worker))
    tl:toggle(tl:row(1))
    assert.equal(13, tl:count())
    assert.equal(12, tl:index_of(worker))
    tl:collapse_all()
    assert.equal(4, tl:count())
    assert.is_nil(tl:index_of(worker))
    assert.equal(6, tl:reveal(worker))          -- 4 headers, then cache.get, worker
  end)

  it("appends spans that arrive later and sorts late starters in", function()
    local store, h = fake.shop()
    local tl = timeline.new(store, 5 * fake.MS)
    assert.equal(17, tl:count())
    h.start("n1", nil, "new", 21)
    assert.equal(19, tl:count())
    h.start("n0", nil, "early", 0.5)
    assert.equal(20, tl:count())
    assert.equal("early", tl:row(3).span.name)
  end)

  it("picks a round interval for about 20 buckets", function()
    assert.equal(1000000000, timeline.auto_interval(0, 20e9))
    assert.equal(50000000, timeline.auto_interval(0, 1e9))
    assert.equal(2000, timeline.auto_interval(0, 30000))
  end)
end)

-- The rows counted in C for untouched subtrees and in Lua under a user's
-- folds must be the rows a plain walk of the trees gives, whatever the
-- folds, groups and new data.
describe("view.model counts against a brute-force walk", function()
  local MIN_RUN = model.MIN_RUN

  -- Rows below ref as the view shows them, by recursion over the store.
  local function brute(m, store, ref)
    local asm = store.asm
    local kids, names, counts = asm:children(ref, true)
    local rows, i = 0, 1
    while i <= #kids do
      local j = i
      while j < #kids and names[j + 1] == names[i] do j = j + 1 end
      local grouped = j - i + 1 >= MIN_RUN
      local open = true
      if grouped then
        rows = rows + 1
        open = m:group_open({ first = kids[i] })
      end
      if open then
        for k = i, j do
          rows = rows + 1
          if counts[k] > 0 and not m:is_folded(kids[k]) then rows = rows + brute(m, store, kids[k]) end
        end
      end
      i = j + 1
    end
    return rows
  end

  local function total(m, store)
    local n = 0
    for _, r in ipairs(store:roots()) do
      n = n + 1
      if store:nchildren(r) > 0 and not m:is_folded(r) then n = n + brute(m, store, r) end
    end
    return n
  end

  it("agrees on random trees, folds, group toggles and new spans", function()
    local rng = 12345
    local function rand(n)
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    for round = 1, 30 do
      local store, h = fake.store()
      local m = model.new(store)
      local made = { "p" .. round .. "_1" }
      h.start(made[1], nil, "root", 0)
      for i = 2, 40 do
        local parent = made[rand(#made)]
        local name = "n" .. made[1] .. "_" .. i
        made[#made + 1] = name
        h.start(name, parent, ({ "a", "a", "b" })[rand(3)], i * 0.01)
      end
      m:touch_all(store:drain())
      for _ = 1, 12 do
        local action = rand(5)
        if action == 1 then
          m:expand_all()
        elseif action == 2 then
          m:collapse_all()
        elseif action == 3 then
          local row = m:row(rand(m:count()))
          if row then m:toggle(row) end
        elseif action == 4 then
          local name = "late" .. round .. "_" .. rand(1000000)
          h.start(name, made[rand(#made)], "a", 1)
          made[#made + 1] = name
          m:touch_all(store:drain())
        else
          m:reveal(fake.ref(store, made[rand(#made)]))
        end
        local rows = 0
        for _ in m:rows(1) do rows = rows + 1 end
        assert.equal(total(m, store), m:count(), "round " .. round)
        assert.equal(m:count(), rows, "round " .. round)
      end
    end
  end)
end)
