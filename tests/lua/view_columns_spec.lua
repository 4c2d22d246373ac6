-- What a row shows when its columns are short: names cut where they say
-- least, the status column sized by what it holds, bars marked where a
-- span goes on past their range, and the logical view's two bar scales.
local core = require("spanline.core")
local fake = require("view_fake")
local app = require("spanline.view.app")
local fmt = require("spanline.view.fmt")

local FIX = (os.getenv("SPANLINE_FIXTURES") or "tests/fixtures") .. "/view_columns.jsonl"

-- The fixture (a 1.24 s request with long dotted names and a long error,
-- and a 45 ms job) in a store.
local function columns_store()
  local store = require("spanline.view.store").new()
  local reader = assert(core.reader(FIX))
  assert.equal("eof", store:feed(reader))
  reader:close()
  return store
end

local function fake_term(w, h)
  return { w = w, h = h, size = function(self) return self.w, self.h end, write = function() end }
end

-- The screen an app draws at w x h, as lines.
local function shown(store, w, h, opts)
  opts = opts or {}
  local a = app.new({ store = store, term = fake_term(w, h), mode = opts.mode, scale = opts.scale })
  a:absorb()
  a:render()
  return a.screen:shown(), a
end

local function line_with(lines, pattern)
  for _, l in ipairs(lines) do
    if l:find(pattern) then return l end
  end
  return nil
end

describe("view fmt.cut_name", function()
  it("keeps the last parts of a dotted name", function()
    assert.equal("…chain.iter", fmt.cut_name("spanline.query.chain.iter", 15))
    assert.equal("…bb.cc", fmt.cut_name("a.bb.cc", 6))           -- whole parts when they fit
    assert.equal("…users/42", fmt.cut_name("GET /api/v1/users/42", 10))  -- a part starts after "/"
    assert.equal("…iter", fmt.cut_name("spanline.query.chain.iter", 5))
  end)
  it("cuts other names in the middle, keeping both ends", function()
    assert.equal("veryl…name", fmt.cut_name("verylongfunctionname", 10))
    assert.equal(10, fmt.width(fmt.cut_name("verylongfunctionname", 10)))
    assert.equal("日…です", fmt.cut_name("日本語の名前です", 7))
  end)
  it("leaves a name that fits alone", function()
    assert.equal("db.query", fmt.cut_name("db.query", 8))
  end)
end)

describe("view fmt.bar", function()
  it("marks the edge a span goes on past", function()
    assert.equal("     ████▶", fmt.bar(10, 0, 100, 50, 200))        -- ends after the range
    assert.equal("◀█        ", fmt.bar(10, 0, 100, -50, 20))        -- started before it
    assert.equal("◀████████▶", fmt.bar(10, 0, 100, -50, 200))       -- both
    assert.equal("  ███     ", fmt.bar(10, 0, 100, 20, 50))         -- inside: no mark
    assert.equal("  ███████▶", fmt.bar(10, 0, 100, 20, nil, true))  -- open: to the edge
  end)
end)

describe("view columns", function()
  it("gives a long error the columns names do not need at 160 columns", function()
    local lines = shown(columns_store(), 160, 30)
    local row = line_with(lines, "payments%.gateway%.client%.charge")
    assert.truthy(row)
    assert.truthy(row:find("error: payments-gateway returned 503 after 3 retries", 1, true))
    -- and every name is whole
    assert.truthy(line_with(lines, "app%.services%.billing%.invoices%.InvoiceRenderer%.render_pdf"))
    assert.truthy(line_with(lines, "connection_pool_acquire_with_exponential_backoff_timeout"))
  end)

  it("keeps the informative end of names at 80 columns", function()
    local lines = shown(columns_store(), 80, 30)
    assert.truthy(line_with(lines, "├─ …InvoiceRenderer%.render_pdf "))
    assert.truthy(line_with(lines, "├─ …paginate_document_sections "))
    assert.truthy(line_with(lines, "├─ connection_poo…ackoff_timeout "))     -- cut in the middle
    local err = line_with(lines, "gateway%.client%.charge")
    assert.truthy(err:find("error: payments", 1, true))
    for _, l in ipairs(lines) do assert.equal(80, utf8.len(l)) end
  end)

  it("sizes the status column by what it holds", function()
    local store, h = fake.store()
    h.start("a", nil, "root", 0); h.finish("a", 10)
    local lines = shown(store, 80, 20)
    local dur_at = lines[2]:find("10.0ms", 1, true)   -- only "ok": a narrow status column
    assert.truthy(lines[2]:find("ok █", 1, true))
    h.start("b", nil, "other", 20); h.finish("b", 30, "error", "the disk is full again")
    lines = shown(store, 80, 20)
    assert.truthy(line_with(lines, "error: the disk is full again █"))
    assert.is_true(lines[2]:find("10.0ms", 1, true) < dur_at)   -- the names gave way
    assert.equal("█", lines[2]:sub(-3))                          -- and the bar stayed
  end)
end)

describe("view bars", function()
  it("marks spans that outlast their bucket in time mode", function()
    local store, h = fake.store()
    h.start("long", nil, "long.job", 0); h.finish("long", 25)
    h.start("short", "long", "short.job", 1); h.finish("short", 2)
    local lines = shown(store, 100, 20, { mode = "time" })
    assert.equal("█▶", line_with(lines, "L1 +long%.job"):gsub(" +$", ""):sub(-6))
    assert.equal("██", line_with(lines, "L1 +short%.job"):gsub(" +$", ""):sub(-6))
  end)

  it("scales logical bars per trace or on one scale, and says which", function()
    local store = columns_store()
    local lines, a = shown(store, 120, 30)
    assert.matches("^%[logical, bars per trace%]", lines[1])
    local function bar_len(l) return select(2, l:gsub("█", "")) end
    local request = bar_len(line_with(lines, "^http%.server%.request"))
    local cron = bar_len(line_with(lines, "^cron%.cleanup"))
    assert.equal(request, cron)                        -- each fills its own trace's range
    a:key("s")
    a:render()
    lines = a.screen:shown()
    assert.matches("^%[logical, bars on one scale%]", lines[1])
    request = bar_len(line_with(lines, "^http%.server%.request"))
    cron = bar_len(line_with(lines, "^cron%.cleanup"))
    assert.is_true(request > 10 * cron)                -- 1.24 s against 45 ms
    lines = shown(store, 120, 30, { scale = "global" })
    assert.matches("^%[logical, bars on one scale%]", lines[1])
  end)
end)
