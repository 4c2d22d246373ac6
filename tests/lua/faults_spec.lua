-- faults_spec.lua: the tracer's bad days at the Lua boundary. close() and
-- flush() say true, or nil, message, code when records could not be
-- written (a closed fd: EBADF); the options block, ring and crash are
-- checked and name themselves when wrong; tracer:dump() writes a flight
-- recorder's newest records and is an EINVAL failure without one.
local spanline = require("spanline")
local core = require("spanline.core")

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function records(path)
  local r = assert(core.reader(path))
  local n = 0
  while r:next() do n = n + 1 end
  return n, r:bad_lines()
end

describe("write failures", function()
  it("close() returns true, and true again", function()
    local t = spanline.tracer{ output = ":memory:" }
    t:start("a"):finish()
    assert.is_true(t:close())
    assert.is_true(t:close())
  end)

  it("flush() and close() return nil, message, code when writes fail", function()
    local f = assert(io.open("/dev/full", "w"))
    local t = spanline.tracer{ output = f, background = false, interval = 100000 }
    t:start("a"):finish()
    local ok, msg, code = t:flush()
    assert.is_nil(ok)
    assert.equal("ENOSPC", code)
    assert.matches("cannot write the trace: No space left on device", msg)
    t:start("b"):finish()
    ok, msg, code = t:close()
    assert.is_nil(ok)
    assert.equal("ENOSPC", code)
    assert.matches("No space left", msg)
    f:close()
  end)

  it("flush = \"always\" reports the failure on the next flush()", function()
    local f = assert(io.open("/dev/full", "w"))
    local t = spanline.tracer{ output = f, flush = "always" }
    t:start("a"):finish()   -- written (and failed) at once
    local ok, _, code = t:flush()
    assert.is_nil(ok)
    assert.equal("ENOSPC", code)
    t:close()
    f:close()
  end)
end)

describe("options", function()
  it("checks ring and names it", function()
    local path = tmpname()
    for _, bad in ipairs({ "lots", "12XB", 100, -5, true }) do
      local ok, err = pcall(spanline.tracer, { output = path, ring = bad })
      assert.is_false(ok)
      assert.matches("bad option 'ring'", err)
    end
    local ok, err = pcall(spanline.tracer, { output = function() end, ring = "1MB" })
    assert.is_false(ok)
    assert.matches("bad option 'ring'", err)
    local t = spanline.tracer{ output = path, ring = "64KB" }
    t:close()
    os.remove(path)
  end)

  it("accepts block = true/false and crash = true", function()
    for _, opts in ipairs({ { block = true }, { block = false }, { crash = true } }) do
      opts.output = ":memory:"
      local t = spanline.tracer(opts)
      t:start("a"):finish()
      assert.is_true(t:close())
    end
  end)
end)

describe("flight recorder", function()
  it("writes nothing until dump(), then the newest records", function()
    local out, dump = tmpname(), tmpname()
    local t = spanline.tracer{ output = out, ring = "16KB" }
    for i = 1, 5000 do t:start("s", { i = i }):finish() end
    assert.is_true(t:flush())
    local f = assert(io.open(out, "rb"))
    assert.equal(0, f:seek("end"))
    f:close()
    assert.is_true(t:dump(dump))
    local n, bad = records(dump)
    assert.equal(0, bad)
    assert.is_true(n > 20 and n < 1000)
    assert.is_true(t:stats().overwritten > 0)
    -- dumps empty it
    assert.is_true(t:dump(dump))
    assert.equal(1, records(dump))   -- the meta record alone
    t:close()
    os.remove(out)
    os.remove(dump)
  end)

  it("dump() without a recorder fails with EINVAL", function()
    local t = spanline.tracer{ output = ":memory:" }
    local ok, msg, code = t:dump(tmpname())
    assert.is_nil(ok)
    assert.equal("EINVAL", code)
    assert.matches("ring", msg)
    t:close()
  end)
end)
