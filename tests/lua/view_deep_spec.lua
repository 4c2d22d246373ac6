-- The viewer on hostile trees from the C assembler: a 10^5-deep
-- parent chain (no recursion, capped guides, G to the bottom, folds, data
-- arriving in slices) and cut parent cycles (labelled, not "not seen").
local store_mod = require("spanline.view.store")
local model = require("spanline.view.model")
local plain = require("spanline.view.plain")
local app = require("spanline.view.app")

local DEPTH = 100000
local T0 = 1764000000000000000

local function id(i) return string.format("%032x", i) end

-- Records as the reader gives them: span i's parent is span i-1.
local function start_rec(i)
  return { type = "start", id = id(i), trace = id(1), parent = i > 1 and id(i - 1) or nil,
           name = "n", ts = T0 + i, lane = 1 }
end
local function end_rec(i)
  return { type = "end", id = id(i), ts = T0 + 2 * DEPTH - i + 1, status = "ok" }
end

local function chain_store(upto)
  local st = store_mod.new()
  for i = 1, upto or DEPTH do st:add(start_rec(i)) end
  return st
end

local function fake_term(w, h)
  return { w = w, h = h, size = function(self) return self.w, self.h end, write = function() end }
end

local function find(lines, pattern)
  for i, l in ipairs(lines) do
    if l:find(pattern) then return i, l end
  end
  return nil
end

-- Collects what plain.render writes.
local function sink()
  local parts = {}
  return { write = function(self, ...) for _, x in ipairs({ ... }) do parts[#parts + 1] = x end return self end,
           text = function() return table.concat(parts) end }
end

describe("view on a 10^5-deep chain", function()
  local st
  setup(function()
    st = chain_store()
    for i = DEPTH, 1, -1 do st:add(end_rec(i)) end
  end)

  it("counts and prints every row without recursion, guides capped", function()
    local out = sink()
    assert.is_true(plain.render(st, { mode = "logical", width = 100, out = out }))
    local lines = {}
    for l in out.text():gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(DEPTH + 1, #lines)                      -- summary + one row per span
    assert.matches("^%[logical, bars per trace%] 100000 spans, 1 trace", lines[1])
    assert.matches("^n ", lines[2])
    assert.matches("^└─ n ", lines[3])
    assert.matches("^   └─ n ", lines[4])
    -- deep rows: the capped guides, then their depth, never wider than the view
    assert.matches("%[depth 99999%] └─ n ", lines[#lines])
    assert.matches("%[depth 5000%] └─ n ", lines[5002])
    for _, i in ipairs({ 2, 100, 5002, #lines }) do
      assert.is_true(utf8.len(lines[i]) <= 100)
    end
    -- same guides on every deep row: linear text
    assert.equal(lines[#lines]:find("[", 1, true), lines[5002]:find("[", 1, true))
  end)

  it("finds rows both ways at the bottom of the chain", function()
    local m = model.new(st)
    st:drain()
    assert.equal(DEPTH, m:count())
    local row = m:row(DEPTH)
    assert.equal(id(DEPTH), row.span.id)
    assert.equal(DEPTH - 1, row.depth)
    assert.equal(DEPTH, m:index_of(st:find(id(DEPTH))))
    assert.equal(DEPTH - 1, m:index_of(st:find(id(DEPTH - 1))))
    -- rows(from) at depth agrees with row(k)
    local it = m:rows(DEPTH - 2)
    assert.equal(id(DEPTH - 2), it().span.id)
    assert.equal(id(DEPTH - 1), it().span.id)
    assert.equal(id(DEPTH), it().span.id)
    assert.is_nil(it())
  end)

  it("moves to the bottom with G, folds all and comes back", function()
    local a = app.new({ store = st, term = fake_term(100, 30) })
    a:absorb()
    a:render()
    a:key("G")
    a:render()
    assert.equal(id(DEPTH), st:span(a.sel.ref).id)
    local lines = a.screen:shown()
    assert.truthy(find(lines, "%[depth 99999%] └─ n"))
    assert.truthy(find(lines, "%[depth 99990%] └─ n"))
    a:key("k")
    a:render()
    assert.equal(id(DEPTH - 1), st:span(a.sel.ref).id)
    -- collapse all: the selection shows on its nearest visible ancestor,
    -- and is back on its own row after expand all
    a:key("[")
    a:render()
    assert.equal(1, a.sel_row)
    assert.equal(id(1), a:selected_row().span.id)
    a:key("]")
    a:render()
    assert.equal(DEPTH - 1, a.sel_row)
    assert.equal(id(DEPTH - 1), a:selected_row().span.id)
  end)
end)

describe("view on a deep chain arriving in slices", function()
  it("keeps the row count right when new spans hang 50000 levels down", function()
    local st = store_mod.new()
    local a = app.new({ store = st, term = fake_term(100, 30) })
    for i = 1, DEPTH // 2 do st:add(start_rec(i)) end
    a:absorb()
    a:render()
    assert.equal(DEPTH // 2, a:view():count())
    for i = DEPTH // 2 + 1, DEPTH do st:add(start_rec(i)) end
    a:absorb()
    a:render()
    assert.equal(DEPTH, a:view():count())
    a:key("G")
    a:render()
    assert.equal(id(DEPTH), st:span(a.sel.ref).id)
  end)
end)

describe("view on parent cycles", function()
  it("labels a cut cycle, not as a parent never seen", function()
    local st = store_mod.new()
    local fix = (os.getenv("SPANLINE_FIXTURES") or "tests/fixtures") .. "/query_cycle.jsonl"
    local src = assert(require("spanline.view.source").open(fix, { store = st, follow = false }))
    repeat local state = src:read(nil) until state ~= "more"
    src:close()
    assert.equal(2, st.asm:stats().cycles)
    local out = sink()
    plain.render(st, { mode = "logical", width = 100, out = out })
    local text = out.text()
    assert.matches("\na  %[parent cycle cut%]", text)
    assert.matches("\n└─ b ", text)
    assert.matches("\nself  %[parent cycle cut%]", text)
    assert.is_nil(text:find("not seen", 1, true))
    -- the details pane says it too
    local lines = require("spanline.view.draw").details(st:span(st:find(id(3))), st, 100)
    assert.truthy(find(lines, "^parent " .. id(3) .. " %(parent cycle cut%)"))
  end)
end)
