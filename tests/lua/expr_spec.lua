-- expr_spec.lua: what a --where expression cannot do to the host. Its
-- libraries are copies (assigning string.format, table.concat or
-- math.floor inside one changes nothing outside; math.randomseed is not
-- there), and each call is bounded in time and memory: an endless loop or a
-- memory-eating expression raises a limit error naming the expression (an
-- object with exit = 2), on that call and every later one, while ordinary
-- errors stay ordinary.
local expr = require("spanline.query.expr")
local query = require("spanline.query")

local span = { name = "db.query", dur = 30000000, status = "ok", attrs = { rows = 3 } }

describe("--where sandbox", function()
  it("gives expressions copies of string, table, math and utf8", function()
    local format, concat, floor, char = string.format, table.concat, math.floor, utf8.char
    for _, text in ipairs({
      "(function() string.format = function() return 'x' end return true end)()",
      "(function() table.concat = nil return true end)()",
      "(function() math.floor = nil; utf8.char = nil return true end)()",
    }) do
      local f = assert(expr.compile_where(text))
      assert.is_true(f(span))
    end
    assert.equal(format, string.format)
    assert.equal(concat, table.concat)
    assert.equal(floor, math.floor)
    assert.equal(char, utf8.char)
    assert.equal("3", string.format("%d", 3))
    -- and the copies work
    assert.is_true(assert(expr.compile_where('string.format("%d", attrs.rows) == "3"'))(span))
    -- shared state stays out of reach
    local f = assert(expr.compile_where("math.randomseed(1)"))
    assert.has_error(function() f(span) end)
  end)

  it("each expression gets its own copies", function()
    local a = assert(expr.compile_where("(function() string.upper = nil return true end)()"))
    assert.is_true(a(span))
    local b = assert(expr.compile_where('string.upper("x") == "X"'))
    assert.is_true(b(span))
  end)
end)

describe("--where budgets", function()
  local saved
  before_each(function() saved = { seconds = expr.limits.seconds, memory = expr.limits.memory } end)
  after_each(function() expr.limits.seconds, expr.limits.memory = saved.seconds, saved.memory end)

  it("stops an endless loop with an error naming the expression", function()
    expr.limits.seconds = 0.2
    local text = "(function() while true do end end)()"
    local f = assert(expr.compile_where(text))
    local ok, err = pcall(f, span)
    assert.is_false(ok)
    assert.is_true(expr.is_limit_error(err))
    assert.equal(2, err.exit)
    assert.equal("time", err.kind)
    assert.matches("--where '" .. text:gsub("%p", "%%%0") .. "' gave up", tostring(err))
    -- spent: later calls fail at once with the same error
    local ok2, err2 = pcall(f, span)
    assert.is_false(ok2)
    assert.equal(err, err2)
    -- the host's own loops are not limited afterwards
    local n = 0
    local t = os.clock()
    while os.clock() - t < 0.3 do n = n + 1 end
    assert.is_true(n > 0)
  end)

  it("stops a memory-eating expression", function()
    expr.limits.memory = 8 * 1024 * 1024
    for _, text in ipairs({
      "(function() local t = {} while true do t[#t + 1] = {} end end)()",
      '#("x"):rep(2^28) > 0',
    }) do
      local f = assert(expr.compile_where(text))
      local ok, err = pcall(f, span)
      assert.is_false(ok)
      assert.is_true(expr.is_limit_error(err), tostring(err))
      assert.equal("memory", err.kind)
      assert.matches("MiB of memory on one span", tostring(err))
    end
    -- the host may allocate as much as it likes again
    local big = string.rep("x", 32 * 1024 * 1024)
    assert.equal(32 * 1024 * 1024, #big)
  end)

  it("leaves ordinary errors and results alone", function()
    local f = assert(expr.compile_where("nil + 1"))
    local ok, err = pcall(f, span)
    assert.is_false(ok)
    assert.is_false(expr.is_limit_error(err))
    assert.matches("arithmetic", err)
    assert.is_true(f ~= nil and assert(expr.compile_where("dur > 5ms"))(span))
    -- a budget-sized amount of work is fine, call after call
    local g = assert(expr.compile_where('#(("ab"):rep(1000)) == 2000'))
    for _ = 1, 1000 do assert.is_true(g(span)) end
  end)

  it("is what query.compile_where gives", function()
    expr.limits.seconds = 0.1
    local f = assert(query.compile_where("(function() while true do end end)()"))
    assert.is_true(query.is_limit_error(select(2, pcall(f, span))))
  end)
end)
