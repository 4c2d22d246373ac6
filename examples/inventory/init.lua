-- inventory: a store of items with stock levels and prices (example module,
-- spanline-unaware).
local stock = require("inventory.stock")
local pricing = require("inventory.pricing")

local inventory = { stock = stock, pricing = pricing }

local Store = {}
Store.__index = Store

function Store.new(name)
  return setmetatable({ name = name, levels = {}, revenue = 0 }, Store)
end

function Store:receive(item, count)
  stock.add(self.levels, item, count)
end

function Store:ship(item, count)
  stock.take(self.levels, item, count)
  local price = pricing.quote(item, count)
  self.revenue = self.revenue + price
  return price
end

function Store:report()
  local names = {}
  for item in pairs(self.levels) do names[#names + 1] = item end
  table.sort(names)
  local parts = {}
  for _, item in ipairs(names) do
    parts[#parts + 1] = item .. "=" .. self.levels[item]
  end
  return string.format("%s: %s; revenue %.2f", self.name, table.concat(parts, " "), self.revenue)
end

inventory.Store = Store
return inventory
