-- inventory.stock: stock levels kept in a plain table (example module).
local stock = {}

function stock.add(levels, item, count)
  levels[item] = (levels[item] or 0) + count
end

function stock.take(levels, item, count)
  local have = levels[item] or 0
  if have < count then
    error(string.format("out of stock: %s (have %d, want %d)", item, have, count), 0)
  end
  levels[item] = have - count
end

return stock
