-- inventory.pricing: list prices and bulk discounts (example module).
local pricing = { list = { apple = 0.5, pear = 0.8, plum = 1.25 } }

function pricing.discount(count)
  if count >= 20 then return 0.2 elseif count >= 10 then return 0.1 end
  return 0
end

function pricing.quote(item, count)
  local unit = pricing.list[item] or 1
  return unit * count * (1 - pricing.discount(count))
end

return pricing
