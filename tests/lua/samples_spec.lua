-- core.samples (bindings/lua/lsamples.c): exact nearest-rank percentiles
-- and the summary, whatever the values (negative, repeated, past 2^32,
-- the int64 extremes) and however many (the small-array and the radix
-- sort paths), checked against table.sort of the same values.
local core = require("spanline.core")

-- The nearest-rank p-th percentile of a sorted Lua array.
local function rank(sorted, p)
  local k = math.max(1, math.ceil(p / 100 * #sorted))
  return sorted[k]
end

local function check(values)
  local s = core.samples()
  for _, v in ipairs(values) do s:add(v) end
  local sorted = { table.unpack(values) }
  table.sort(sorted)
  local sum = core.samples()
  for _, v in ipairs(values) do sum:add(v) end
  local row = sum:summary()
  assert.equal(#values, s:count())
  assert.equal(sorted[1], row.min)
  assert.equal(sorted[#sorted], row.max)
  for _, p in ipairs({ 0, 1, 25, 50, 90, 95, 99, 99.9, 100 }) do
    assert.equal(rank(sorted, p), s:quantile(p), "p" .. p .. " of " .. #values)
  end
  assert.equal(rank(sorted, 50), row.p50)
  assert.equal(rank(sorted, 99), row.p99)
end

describe("core.samples", function()
  it("ranks small and large sets exactly", function()
    math.randomseed(42)
    for _, n in ipairs({ 1, 2, 7, 64, 65, 1000, 20000 }) do
      local small, wide, mixed = {}, {}, {}
      for i = 1, n do
        small[i] = math.random(0, 50)                      -- many repeats, one byte
        wide[i] = math.random(0, 1 << 40) * 1000           -- durations in ns
        mixed[i] = math.random(math.mininteger, math.maxinteger)   -- negative too
      end
      check(small)
      check(wide)
      check(mixed)
    end
  end)

  it("handles the extremes and already sorted input", function()
    check({ math.maxinteger, math.mininteger, 0, -1, 1, math.maxinteger, math.mininteger })
    local up, down = {}, {}
    for i = 1, 5000 do
      up[i] = i * 3 - 7000
      down[i] = 7000 - i * 3
    end
    check(up)
    check(down)
  end)

  it("raises on a value of another type", function()
    assert.has_error(function() core.samples().add({}, 1) end)
    assert.has_error(function() core.samples():add("x") end)
  end)
end)
