-- spanline.report (durations, table, CSV, JSON) and spanline.tree_text.
local report = require("spanline.report")
local tree_text = require("spanline.tree_text")
local query = require("spanline.query")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"
local MS = 1000000

describe("report.duration", function()
  it("is human-readable with three significant digits", function()
    assert.equal("950ns", report.duration(950))
    assert.equal("12.3us", report.duration(12345))
    assert.equal("4.50ms", report.duration(4500000))
    assert.equal("1.00ms", report.duration(999999))
    assert.equal("100ms", report.duration(100 * MS))
    assert.equal("1.25s", report.duration(1250000000))
    assert.equal("2m05s", report.duration(125 * 1000000000))
    assert.equal("-", report.duration(nil))
  end)
end)

describe("report formats", function()
  local rows
  setup(function()
    rows = query.open(FIX .. "/query_basic.jsonl"):group_by("name"):stats()
  end)

  it("aligns the text table", function()
    local text = report.table(rows, { title = "name" })
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(#rows + 1, #lines)
    assert.matches("^name%s+count%s+errors", lines[1])
    assert.matches("^request%s+2%s+0%s+0%s+110ms", lines[2])
    -- numbers are right-aligned: every line's "count" column ends at the same place
    local col = lines[1]:find("count") + #"count" - 1
    for i = 2, #lines do assert.matches("%d", lines[i]:sub(col, col)) end
  end)

  it("writes CSV with raw nanoseconds", function()
    local text = report.csv(rows, { title = "name" })
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal("name,count,errors,open,total,min,mean,stdev,p50,p90,p95,p99,max,self_total,self_mean", lines[1])
    assert.matches("^request,2,0,0,110000000,10000000,", lines[2])
  end)

  it("quotes CSV cells that need it", function()
    local text = report.csv({ { key = 'a,"b"', count = 1, errors = 0, open = 0 } })
    assert.matches('^key,.-\n"a,""b""",1,0,0,', text)
  end)

  it("writes JSON that decodes, with exact integers", function()
    local text = report.json(rows, { title = "name" })
    local data = require("cjson").decode(text)
    assert.equal(#rows, #data)
    assert.equal("request", data[1].name)
    assert.equal(2, data[1].count)
    assert.matches('"total":110000000', text)
  end)

  it("rejects unknown formats", function()
    local out, msg = report.render(rows, "xml")
    assert.is_nil(out)
    assert.matches("unknown format", msg)
  end)
end)

describe("tree_text", function()
  it("draws a trace with box-drawing guides", function()
    local t = query.open(FIX .. "/query_basic.jsonl"):traces()[1]
    local want = table.concat({
      "request  100ms",
      "├─ db.query  30.0ms",
      "├─ db.query  30.0ms  ERROR: timeout",
      "│  └─ net.read  10.0ms",
      "└─ render  30.0ms",
    }, "\n") .. "\n"
    assert.equal(want, tree_text.render(t.roots))
  end)

  it("gives rows with depth and prefix for the viewer", function()
    local t = query.open(FIX .. "/query_basic.jsonl"):traces()[1]
    local rows = tree_text.rows(t.roots)
    assert.equal(5, #rows)
    assert.equal(2, rows[4].depth)
    assert.equal("│  └─ ", rows[4].prefix)
    assert.is_true(rows[5].last)
    assert.equal(1, #tree_text.rows(t.roots, { max_depth = 0 }))
  end)

  it("marks open, orphan and remote spans", function()
    local ts = query.open(FIX .. "/query_basic.jsonl"):traces()
    assert.equal("worker  (open)\n", tree_text.render(ts[3].roots))
    assert.matches("%(orphan%)", tree_text.render(ts[4].roots))
    assert.matches("remote parent 00f067aa0ba902b7", tree_text.render(ts[5].roots))
  end)
end)
