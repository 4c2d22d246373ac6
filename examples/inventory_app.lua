-- inventory_app.lua: a small warehouse program that knows nothing about
-- spanline. `spanline run --instrument 'inventory.*' examples/inventory_app.lua`
-- traces it anyway: every function of the inventory modules becomes a span.
--
-- Usage: lua5.4 examples/inventory_app.lua [ITEM:COUNT ...]   (extra orders)

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. here .. "/?/init.lua;" .. package.path

local inventory = require("inventory")

local store = inventory.Store.new("north")
store:receive("apple", 40)
store:receive("pear", 12)
store:receive("plum", 5)

local orders = {
  { "apple", 10 }, { "pear", 3 }, { "apple", 25 }, { "plum", 2 },
}
for i = 1, #arg do
  local item, count = arg[i]:match("^(%w+):(%d+)$")
  if item then orders[#orders + 1] = { item, tonumber(count) } end
end

-- Two pickers take turns: each ships one order, then yields to the other.
local function picker(name, first)
  return coroutine.create(function()
    for i = first, #orders, 2 do
      local item, count = orders[i][1], orders[i][2]
      local price = store:ship(item, count)
      print(string.format("%s shipped %d %s for %.2f", name, count, item, price))
      coroutine.yield()
    end
  end)
end
local pickers = { picker("picker-1", 1), picker("picker-2", 2) }
local busy = true
while busy do
  busy = false
  for _, co in ipairs(pickers) do
    if coroutine.status(co) ~= "dead" then
      assert(coroutine.resume(co))
      busy = true
    end
  end
end

-- One order cannot be filled: the error is caught and reported.
local ok, err = pcall(store.ship, store, "plum", 50)
print("big plum order: " .. (ok and "shipped" or ("failed: " .. tostring(err))))

print(store:report())
