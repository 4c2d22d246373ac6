-- lifecycle_spec.lua: tracer:lifecycle, spans that cover an object's life.
local instrument = require("spanline.instrument")
local helper = require("instrument_helper")

local function full_gc()
  for _ = 1, 4 do collectgarbage("collect") end
end

local function Conn()
  local C = { __name = "conn" }
  C.__index = C
  function C.new(host) return setmetatable({ host = host, log = {} }, C) end
  function C:start(x) self.log[#self.log + 1] = "start"; return self, x end
  function C:stop() self.log[#self.log + 1] = "stop"; return "stopped" end
  function C:destroy() self.log[#self.log + 1] = "destroy" end
  return C
end

describe("lifecycle", function()
  local tracer, records
  before_each(function() tracer, records = helper.new() end)

  it("opens a span at the open method and ends it at the close method", function()
    local C = Conn()
    instrument.lifecycle(tracer, C, { open = "start", close = "stop" })
    local c = C.new("db1")
    local self_back, x = c:start(7)
    assert.equal(c, self_back)
    assert.equal(7, x)
    local list = helper.spans(records())
    assert.equal(1, #list)
    assert.equal("conn", list[1].name)
    assert.is_nil(list[1].status)          -- still open
    assert.equal("stopped", c:stop())
    list = helper.spans(records())
    assert.equal("ok", list[1].status)
    assert.same({ "start", "stop" }, c.log)
  end)

  it("covers every instance of a metatable-based class, each with its own span", function()
    local C = Conn()
    instrument.lifecycle(tracer, C, { name = "conn.life" })
    local a, b = C.new("a"), C.new("b")
    a:start(); b:start()
    a:stop()
    local list = helper.spans(records())
    assert.equal(2, #list)
    assert.equal("ok", list[1].status)
    assert.is_nil(list[2].status)
    b:stop()
    list = helper.spans(records())
    assert.equal("ok", list[2].status)
  end)

  it("the lifecycle span does not adopt the caller's later spans", function()
    local C = Conn()
    instrument.lifecycle(tracer, C)
    local outer = tracer:start("outer")
    local c = C.new("x")
    c:start()
    local after = tracer:start("after")
    after:finish()
    c:stop()
    outer:finish()
    local _, by_name = helper.spans(records())
    assert.equal(by_name.outer[1].id, by_name.conn[1].parent)
    assert.equal(by_name.outer[1].id, by_name.after[1].parent)
  end)

  it("supports create/destroy pairs", function()
    local C = Conn()
    instrument.lifecycle(tracer, C, { create = "new", destroy = "destroy", name = "obj" })
    local c = C.new("h")
    assert.equal("h", c.host)
    assert.equal(1, #helper.spans(records()))
    c:destroy()
    assert.equal("ok", helper.spans(records())[1].status)
    assert.same({ "destroy" }, c.log)
  end)

  it("ends the span of an object collected before close as abandoned", function()
    local C = Conn()
    instrument.lifecycle(tracer, C)
    local kept = C.new("kept")
    kept:start()
    do
      local lost = C.new("lost")
      lost:start()
    end
    full_gc()
    local list = helper.spans(records())
    assert.equal(2, #list)
    assert.is_nil(list[1].status)          -- kept: still open
    assert.equal("abandoned", list[2].status)
    kept:stop()
    assert.equal("ok", helper.spans(records())[1].status)
  end)

  it("on an instance patches only that instance", function()
    local C = Conn()
    local a, b = C.new("a"), C.new("b")
    local undo = instrument.lifecycle(tracer, a)
    assert.equal(C.start, b.start)
    assert.not_equal(C.start, a.start)
    a:start(); a:stop()
    b:start(); b:stop()
    assert.equal(1, #helper.spans(records()))
    undo()
    assert.is_nil(rawget(a, "start"))
    assert.is_nil(rawget(a, "stop"))
  end)

  it("on a subclass patches the subclass only, not the inherited-from class", function()
    local Base = Conn()
    local Sub = setmetatable({ __name = "sub" }, { __index = Base })
    Sub.__index = Sub
    local start = Base.start
    local undo = instrument.lifecycle(tracer, Sub)
    assert.equal(start, Base.start)
    local s = setmetatable({ log = {} }, Sub)
    s:start(); s:stop()
    local b = Base.new("b")
    b:start(); b:stop()
    local list = helper.spans(records())
    assert.equal(1, #list)
    assert.equal("sub", list[1].name)
    assert.same({ "start", "stop" }, s.log)
    undo()
    assert.is_nil(rawget(Sub, "start"))
  end)

  it("undo restores the class methods exactly", function()
    local C = Conn()
    local start, stop = C.start, C.stop
    local undo = instrument.lifecycle(tracer, C)
    assert.not_equal(start, C.start)
    undo()
    assert.equal(start, C.start)
    assert.equal(stop, C.stop)
  end)

  it("records an error raised by the close method and re-raises it", function()
    local C = Conn()
    function C:stop() error("cannot stop", 0) end
    instrument.lifecycle(tracer, C)
    local c = C.new("x")
    c:start()
    local ok, err = pcall(c.stop, c)
    assert.is_false(ok)
    assert.equal("cannot stop", err)
    local list = helper.spans(records())
    assert.equal("error", list[1].status)
    assert.equal("cannot stop", list[1].error)
  end)

  it("close without open and reopen without close are handled", function()
    local C = Conn()
    instrument.lifecycle(tracer, C)
    local c = C.new("x")
    c:stop()                               -- no span: nothing recorded
    assert.equal(0, #helper.spans(records()))
    c:start(); c:start()                   -- the first life ends when the second begins
    c:stop()
    local list = helper.spans(records())
    assert.equal(2, #list)
    assert.equal("ok", list[1].status)
    assert.equal("ok", list[2].status)
  end)

  it("takes span attributes from opts.attrs, and survives a failing one", function()
    local C = Conn()
    instrument.lifecycle(tracer, C, { create = "new", destroy = "destroy",
      attrs = function(obj, host) return { host = host, same = obj.host == host } end })
    C.new("db7"):destroy()
    local list = helper.spans(records())
    assert.same({ host = "db7", same = true }, list[1].attrs)
    local D = Conn()
    instrument.lifecycle(tracer, D, { attrs = function() error("oops") end })
    local d = D.new("x")
    d:start()
    d:stop()
    assert.equal("ok", helper.spans(records())[2].status)
  end)

  it("complains about a missing method", function()
    assert.has_error(function() instrument.lifecycle(tracer, {}, { open = "go", close = "halt" }) end,
      "bad argument #1 to 'lifecycle' (no method 'go')")
  end)
end)
