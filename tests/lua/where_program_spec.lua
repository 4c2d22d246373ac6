-- expr_simple.program (query/expr_simple.lua, bindings/lua/lwhere.c): a
-- simple --where expression judged in C gives the same filter output,
-- failure count and first failure as the Lua expression, spans the Lua
-- expression would raise on included, and leaves the rest to Lua.
local query = require("spanline.query")
local simple = require("spanline.query.expr_simple")

local FIX = os.getenv("SPANLINE_FIXTURES") or "tests/fixtures"
local FILES = { "query_basic.jsonl", "query_late.jsonl", "query_remote.jsonl", "query_cycle.jsonl",
  "query_pct.jsonl" }

-- Runs the filter loop over path with the compiled expression, with or
-- without its program; the output text, the results and how often the
-- Lua expression was called.
local function filter(path, text, with_program)
  local fn = assert(query.compile_where(text))
  local calls = 0
  local function pred(s)
    calls = calls + 1
    return fn(s)
  end
  local q = assert(query.open(path, { raw = true }))
  local out = assert(io.tmpfile())
  local matched, failures, first, seen = query.filter(q, pred, out, { fields = query.expr_fields(text),
    program = with_program and simple.program(text) or nil })
  out:seek("set")
  local body = out:read("a")
  out:close()
  return { body = body, matched = matched, failures = failures, first = first and tostring(first),
    seen = seen }, calls
end

describe("query.expr_simple", function()
  local SIMPLE = {
    'status == "error"', 'status ~= "ok"', 'name == "db.query" and status == "error"',
    "dur > 5ms", "dur > 10ms", "dur >= 10ms or lane == 2", "not (dur < 1ms)", "error", "not error",
    "error ~= nil", "finish == nil", "orphan", "not orphan and depth >= 1", "remote_parent",
    "self <= 2ms and start > 0", 'name == \'late\' or name == "handler"', "5ms < dur",
    "line > 3", 'status == 5', "dur == nil or dur > 100ms", "depth > 1 and (orphan or lane ~= 1)",
    'name:find("db")', "not name:find('query') and dur > 1ms", 'error:find("oo")', 'name:find("")',
    'status:find("rr") or name:find("late")', 'name:match("^db")', 'name:find("^late")', 'name:match("^query")',
    'name:find("^read") or name:find("^rem")',
    'name:match("query")', 'name:match("^")', "not name:match('^net') and error:find('^ti')",
  }

  it("builds a program for simple expressions only", function()
    for _, text in ipairs(SIMPLE) do
      assert.is_not_nil(simple.tree(text), text)
    end
    for _, text in ipairs({ "dur > 1.5", "dur * 2 > 5ms", "a == b", "dur < lane",
      "not dur == 5", "dur < 5 < 6", '"x" .. name == "xa"', 'name < "m"', 'status == "a\\"b"',
      "true", "orphan == false", "attrs.x == 1", "dur > -1", "id == 'x'", "(dur) > 5",
      'name:find("d.b")', 'name:find("db", 2)', 'name:gmatch("db")', 'dur:find("1")', 'name:find("db") == 1',
      'name:match("db$")', 'name:match("^^db")', 'name:find("a^b")',
      'name:find(x)', "name:find('%a')" }) do
      assert.is_nil(simple.tree(text), text)
    end
  end)

  it("gives the Lua expression's output, failures and first failure", function()
    for _, file in ipairs(FILES) do
      for _, text in ipairs(SIMPLE) do
        local lua_only = filter(FIX .. "/" .. file, text, false)
        local with_c = filter(FIX .. "/" .. file, text, true)
        assert.same(lua_only, with_c, file .. ": " .. text)
      end
    end
  end)

  it("calls the Lua expression only where it would raise", function()
    local _, calls = filter(FIX .. "/query_basic.jsonl", 'status == "error" or name == "db.query"', true)
    assert.equal(0, calls)
    -- query_basic ends with an open span: dur is nil there, and Lua raises
    local r, calls2 = filter(FIX .. "/query_basic.jsonl", "dur > 5ms", true)
    assert.equal(1, calls2)
    assert.equal(1, r.failures)
    assert.matches("compare", r.first)
  end)
end)
