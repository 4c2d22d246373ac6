-- trace.lua OUT.jsonl: a small trace with everything OTLP carries, written
-- by the real tracer: typed attributes (string, int, double, bool, arrays,
-- non-ASCII), an attribute set after the start, an event with attributes,
-- an error with a message, a span on another coroutine (lane), a span
-- continued from a remote traceparent, a span abandoned at close, and span
-- kinds named by the attribute span.kind (server, client).
-- (The JS side of tests/otlp/compare.js rebuilds the same trace from it.)
local spanline = require("spanline")
local out = assert(arg[1], "usage: trace.lua OUT.jsonl")
os.remove(out)
local tracer = assert(spanline.tracer{ output = out, service = "shop", host = "h1" })

local root = tracer:start("checkout", {
  user = "ana", items = 3, total = 12.75, vip = true, tags = { "new", "mobile" }, codes = { 7, 9 },
  city = "Zürich", ["span.kind"] = "server",
})
local db = tracer:start("db.query", { sql = "select * from cart where id = ?", ["span.kind"] = "CLIENT" })
db:event("retry", { attempt = 2, reason = "busy" })
db:set("rows", 4)
db:finish()
local pay = tracer:start("payment", { amount = 12.75 })
pay:finish("error", "card declined")
local co = spanline.coroutine.wrap(function()
  local s = tracer:start("notify", { channel = "email" })
  s:finish()
end)
co()
root:finish()

local ctx = spanline.extract({ traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })
local remote = tracer:start("handle request", { route = "/cart" }, { parent = ctx })
remote:finish()

tracer:start("left open", { n = 1 })   -- ended as abandoned by close
tracer:close()
