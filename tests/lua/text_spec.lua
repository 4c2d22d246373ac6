-- text_spec.lua: the one duration formatter and terminal-safe text, and
-- that report, tree and the viewer all use them (they once disagreed).
local text = require("spanline.text")
local report = require("spanline.report")
local fmt = require("spanline.view.fmt")
local tree_text = require("spanline.tree_text")

local MS = 1000000

describe("text.duration", function()
  it("rounds to three significant digits at every unit boundary", function()
    assert.equal("950ns", text.duration(950))
    assert.equal("10.0ms", text.duration(9996000))
    assert.equal("9.99ms", text.duration(9994000))
    assert.equal("100ms", text.duration(99960000))
    assert.equal("1.00ms", text.duration(999999))
    assert.equal("1.00s", text.duration(999999999))
    assert.equal("1m00s", text.duration(59999999999))
    assert.equal("2h01m", text.duration(7260 * 1e9))
  end)
  it("accepts floats (means, stdevs) without raising", function()
    assert.equal("1.00us", text.duration(999.6))
    assert.equal("12ns", text.duration(12.4))
    assert.equal("2.50us", text.duration(2500.0))
  end)
  it("marks negative and unknown durations instead of hiding them", function()
    assert.equal("negative", text.duration(-5 * MS))   -- nonsense records, flagged
    assert.equal("-", text.duration(nil))
    assert.equal("?", text.duration(0 / 0))
  end)
  it("is the formatter of report, tree and the viewer", function()
    for _, ns in ipairs({ 9996000, 999.6, 123456789, 61e9 }) do
      local want = text.duration(ns)
      assert.equal(want, report.duration(ns))
      assert.equal(want, fmt.duration(ns))
      assert.truthy(tree_text.line({ name = "x", start = 0, finish = ns, dur = ns, status = "ok" }):find(want, 1, true))
    end
  end)
end)

describe("text.clean", function()
  it("replaces control characters and invalid UTF-8", function()
    assert.equal("a?]0;pwned?b", text.clean("a\27]0;pwned\7b"))
    assert.equal("x?y", text.clean("x\255y"))
    assert.equal("cut ?!", text.clean("cut \226\130!"))   -- a sequence cut short: one mark
    assert.equal("héllo", text.clean("héllo"))
  end)
end)
