-- The viewer's key map: every bound key runs an app method, the help
-- screen and the footer are written from the same table, and a key that
-- is not in it does nothing.
local fake = require("view_fake")
local app = require("spanline.view.app")
local keys = require("spanline.view.keys")

local function fake_term(w, h)
  return { w = w, h = h, size = function(self) return self.w, self.h end, write = function() end }
end

local function start()
  local a = app.new({ store = fake.shop(), term = fake_term(100, 40) })
  a:absorb()
  a:render()
  return a
end

describe("view.keys", function()
  it("binds each key once, to a method the app has", function()
    local seen = {}
    for _, entry in ipairs(keys.MAP) do
      assert.is_string(entry.help)
      for _, group in ipairs(entry.bind) do
        assert.is_function(app[group.run], group.run)
        for _, k in ipairs(group) do
          assert.is_nil(seen[k], "bound twice: " .. k)
          seen[k] = true
          assert.equal(group.run, keys.action(k))
        end
      end
    end
    assert.is_nil(keys.action("x"))
  end)

  it("lists every entry of the map on the help screen the app draws", function()
    local a = start()
    a:key("?")
    a:render()
    local screen = table.concat(a.screen:shown(), "\n")
    for _, entry in ipairs(keys.MAP) do
      assert.truthy(screen:find(keys.label(entry), 1, true), keys.label(entry))
      assert.truthy(screen:find(entry.help, 1, true), entry.help)
    end
    assert.truthy(screen:find("s", 1, true))
  end)

  it("writes the footer from the map's hints", function()
    local a = start()
    local lines = a.screen:shown()
    assert.truthy(lines[40]:find(keys.footer(), 1, true))
    assert.truthy(keys.footer():find("s scale", 1, true))
    assert.is_true(utf8.len(keys.footer()) <= 80)      -- whole on an 80-column terminal
  end)

  it("runs what the map says and ignores unbound keys", function()
    local a = start()
    assert.is_true(a:key("j"))
    assert.equal(2, a.sel_row)
    assert.is_true(a:key("s"))
    assert.equal("global", a.scale)
    assert.is_true(a:key("s"))
    assert.equal("trace", a.scale)
    assert.is_false(a:key("x"))
    assert.is_true(a:key("q"))
    assert.is_true(a.quit)
  end)
end)
