-- The names a --where expression may read: span fields, the sandbox's
-- libraries, names it declares itself; anything else is refused when it
-- is compiled (a mistyped field would otherwise match nothing, silently).
local expr = require("spanline.query.expr")
local query = require("spanline.query")

local function refused(text)
  local fn, msg, col = expr.compile_where(text)
  assert.is_nil(fn, text)
  return msg, col
end

describe("--where names", function()
  it("refuses an unknown field, naming it, a guess and the fields", function()
    local msg, col = refused("dur > 5ms and nme == 'x'")
    assert.matches("^unknown field 'nme' %(did you mean 'name'%?%); span fields: id trace parent name", msg)
    for _, f in ipairs(expr.FIELDS) do assert.truthy(msg:find(" " .. f, 1, true), f) end
    assert.equal(15, col)                                 -- where "nme" starts
    msg = refused("zzzz > 1")
    assert.matches("^unknown field 'zzzz'; span fields:", msg)   -- no guess that far off
  end)

  it("says a library outside the sandbox is not available", function()
    local msg, col = refused("os.exit(0)")
    assert.matches("^'os' is not available in an expression; span fields: .*; also: ipairs math", msg)
    assert.equal(1, col)
  end)

  it("accepts fields, field access, sandbox names and declared names", function()
    for _, text in ipairs({
      "dur > 5ms and name:find('db')",
      "attrs.user == 'bob' and attrs['k'] ~= nil",
      "string.format('%d', attrs.rows) == '3'",
      "#children > 0 and #events == 0",
      "(function(x, y) local z = x for i, v in ipairs({}) do z = v end return z end)(dur, 1) > 0",
      "({ unknown_key = 1 }).unknown_key == 1",
      "name == 'nme' or name == [[zzzz]]",                 -- names inside strings are text
      "-- nme\n dur > 1",                                  -- and in comments
      "name .. 'x' == 'ax'",
      "dur > 0x10 and dur < 1e+5",
    }) do
      assert.is_function(expr.compile_where(text), text)
    end
  end)

  it("catches a name after a concatenation or inside a call", function()
    assert.matches("'foo'", (refused("name .. foo == 'x'")))
    assert.matches("'nmae'", (refused("string.find(nmae, 'x')")))
  end)

  it("makes a query's where raise on a mistyped field", function()
    local q = query.from_spans({ { name = "a", dur = 1, attrs = {} } })
    assert.has_error(function() q:where("durr > 0") end,
      "bad argument #1 to 'where' (bad expression: unknown field 'durr' (did you mean 'dur'?); span fields: "
        .. table.concat(expr.FIELDS, " ") .. ")")
    assert.equal(1, q:where("dur > 0"):count())
  end)
end)

describe("cli spanfile messages", function()
  local spanfile = require("spanline.cli.spanfile")
  it("names a file it cannot open once", function()
    assert.equal("cannot open x.jsonl: No such file or directory",
      spanfile.open_error("x.jsonl", "x.jsonl: No such file or directory"))
    assert.equal("cannot open x.jsonl: Permission denied", spanfile.open_error("x.jsonl", "Permission denied"))
    local _, msg = spanfile.open("/nonexistent/x.jsonl")
    assert.equal("cannot open /nonexistent/x.jsonl: No such file or directory", msg)
  end)
  it("gives one answer for a file without span records", function()
    assert.equal("f: no span records", spanfile.no_spans("f", 0, 0, {}))
    assert.equal("f: no span records (2 bad lines, first at line 3)", spanfile.no_spans("f", 0, 2, { 3, 4 }))
    assert.is_nil(spanfile.no_spans("f", 1, 5, { 1 }))
  end)
end)
