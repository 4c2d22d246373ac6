-- shop.lua: spanline's demo, a tiny "order service" traced with spanline.
--
-- Two workers (coroutines) share a batch of orders and interleave: each
-- waits for the payment gateway by yielding inside a span, so their spans
-- overlap in time yet keep the right parents. One order fails its stock
-- check (the error is caught and recorded), and a cache warm-up span is
-- started but never finished: the tracer ends it as "abandoned" at close.
--
-- Usage: lua5.4 examples/shop.lua [OUTPUT]      (default: shop.spans.jsonl)
--        spanline tree shop.spans.jsonl

local spanline = require("spanline")

local output = arg and arg[1] or "shop.spans.jsonl"
local tracer = assert(spanline.tracer{ output = output, service = "shop" })

local stock = { apple = 6, pear = 2, plum = 4 }
local prices = { apple = 0.5, pear = 0.8, plum = 1.25 }

-- A traced function: one span per call; an error is recorded and re-raised.
local reserve = tracer:traced("stock.reserve", function(item, qty)
  local have = stock[item] or 0
  if have < qty then
    error(string.format("out of stock: %s (have %d, want %d)", item, have, qty), 0)
  end
  stock[item] = have - qty
end)

local charge = tracer:traced("payment.charge", function(order, total)
  local gateway = tracer:start("payment.gateway", { provider = "fakepay", amount = total })
  gateway:event("request sent", { order = order.id })
  coroutine.yield()                     -- the gateway is slow: let the other worker run
  gateway:event("response", { code = 200 })
  gateway:set("approved", true)
  gateway:finish()
  return "receipt-" .. order.id
end)

local function handle(order, worker)
  local span = tracer:start("order", { id = order.id, item = order.item, qty = order.qty })
  span:set("worker", worker)
  local ok, err = pcall(reserve, order.item, order.qty)
  if not ok then
    span:event("rejected", { reason = err })
    span:finish("error", err)           -- caught here, recorded on the order span
    return
  end
  local total = prices[order.item] * order.qty
  span:set("receipt", charge(order, total))
  span:finish()
end

local orders = {
  { id = 1, item = "apple", qty = 3 }, { id = 2, item = "plum", qty = 1 },
  { id = 3, item = "pear", qty = 5 }, { id = 4, item = "apple", qty = 2 },
}

tracer:with("batch", function()
  -- Coroutines made with spanline.coroutine start with the current span
  -- ("batch") as the parent of their spans.
  local workers = {}
  for w = 1, 2 do
    workers[w] = spanline.coroutine.create(function()
      for i = w, #orders, 2 do handle(orders[i], w) end
    end)
  end
  local busy = true
  while busy do                         -- round-robin scheduler
    busy = false
    for _, co in ipairs(workers) do
      if coroutine.status(co) ~= "dead" then
        assert(coroutine.resume(co))
        busy = true
      end
    end
  end
end)

-- A span that never ends: its start is in the trace at once, and closing the
-- tracer ends it as "abandoned".
local warmup = tracer:start("cache.warmup", { entries = 1000 })
warmup:event("started")

tracer:close()
io.stdout:write("shop: 4 orders handled, spans in ", output, "\n")
