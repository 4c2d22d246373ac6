-- gen_stream.lua: writes a synthetic spanline/1 JSONL stream of about
-- SIZE_MB megabytes for the reading benchmarks (tests/bench/bench_read.sh).
--
-- Shape: a meta line, then web-request traces of 4-30 spans (request ->
-- handler -> cache / db / render, with attrs, events and ~2% errors), four
-- lanes interleaved so several traces are open at once. Lines are written
-- with string.format directly (the C encoder's key order), deterministic.
--
-- `spaced` writes the same records as another producer would, with a space
-- after every ':' and ',' (Python's json.dumps layout): the reader's
-- general parser instead of its fixed-layout fast path. SIZE_MB counts the
-- compact bytes, so both layouts hold the same records.
-- usage: lua5.4 gen_stream.lua OUT SIZE_MB [spaced]
local out_path, size_mb, layout = arg[1], tonumber(arg[2] or "1024"), arg[3]
assert(out_path and (layout == nil or layout == "spaced"), "usage: lua5.4 gen_stream.lua OUT SIZE_MB [spaced]")
local limit = math.floor(size_mb * 1024 * 1024)
local f = assert(io.open(out_path, "wb"))
f:setvbuf("full", 1 << 20)

local seed = 12345
local function rand(n)  -- 1..n, a small LCG (deterministic across runs)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end

local ts = 1764000000000000000
local seq = 0
local function new_id()
  seq = seq + 1
  local ms = ts // 1000000
  return string.format("%012x7%03x%04x%012x", ms, seq % 4096, 0x8000 + seq % 0x4000, seq * 2654435761 % 0xffffffffffff)
end

local written = 0
-- No generated string holds '":' or ',"' (no escaped quotes), so these two
-- patterns are exactly the separators.
local function spaced(line)
  return (line:gsub('":', '": '):gsub(',"', ', "'))
end
local function put(line)
  written = written + #line + 1
  if layout == "spaced" then line = spaced(line) end
  f:write(line, "\n")
end

put(string.format('{"type":"meta","format":"spanline/1","pid":4242,"service":"api","host":"bench","ts":%d}', ts))

local ROUTES = { "/users/:id", "/orders", "/orders/:id/items", "/search", "/health" }
local TABLES = { "users", "orders", "items", "sessions" }

local function start(id, trace, parent, name, lane, attrs)
  ts = ts + rand(50000)
  local p = parent and string.format(',"parent":"%s"', parent) or ""
  put(string.format('{"type":"start","id":"%s","trace":"%s"%s,"name":"%s","ts":%d,"lane":%d%s}',
    id, trace, p, name, ts, lane, attrs and (',"attrs":' .. attrs) or ""))
end

local function finish(id, err)
  ts = ts + rand(2000000)
  if err then
    put(string.format('{"type":"end","id":"%s","ts":%d,"status":"error","error":"%s"}', id, ts, err))
  else
    put(string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}', id, ts))
  end
end

-- One trace as a list of steps, so lanes can interleave them.
local function trace_steps(lane)
  local steps = {}
  local root = new_id()
  local route = ROUTES[rand(#ROUTES)]
  steps[#steps + 1] = function()
    start(root, root, nil, "http.request", lane,
      string.format('{"http.method":"GET","http.route":"%s","user_agent":"bench/1.0"}', route))
  end
  local handler = new_id()
  steps[#steps + 1] = function() start(handler, root, root, "handler" .. route:gsub("/:id", "/id"), lane) end
  for _ = 1, rand(8) do
    local kind = rand(3)
    local id = new_id()
    if kind == 1 then
      steps[#steps + 1] = function() start(id, root, handler, "cache.get", lane, string.format('{"key":"k%d"}', rand(100000))) end
      steps[#steps + 1] = function() finish(id) end
    else
      local t = TABLES[rand(#TABLES)]
      steps[#steps + 1] = function()
        start(id, root, handler, "db.query", lane,
          string.format('{"db.system":"postgresql","db.statement":"select * from %s where id = $1","rows":%d}', t, rand(500)))
      end
      if rand(10) == 1 then
        steps[#steps + 1] = function()
          ts = ts + rand(1000)
          put(string.format('{"type":"event","id":"%s","name":"retry","ts":%d,"attrs":{"attempt":2}}', id, ts))
        end
      end
      local err = rand(50) == 1 and "timeout after 5s" or nil
      steps[#steps + 1] = function() finish(id, err) end
    end
  end
  local render = new_id()
  steps[#steps + 1] = function() start(render, root, handler, "render.json", lane) end
  steps[#steps + 1] = function() finish(render) end
  steps[#steps + 1] = function() finish(handler) end
  steps[#steps + 1] = function()
    ts = ts + rand(1000)
    put(string.format('{"type":"attr","id":"%s","ts":%d,"attrs":{"http.status":200}}', root, ts))
  end
  steps[#steps + 1] = function() finish(root) end
  return steps
end

local lanes = {}
for l = 1, 4 do lanes[l] = { steps = trace_steps(l), i = 1 } end
while written < limit do
  local l = rand(4)
  local lane = lanes[l]
  lane.steps[lane.i]()
  lane.i = lane.i + 1
  if lane.i > #lane.steps then lanes[l] = { steps = trace_steps(l), i = 1 } end
end
-- Finish the traces in flight so every span ends.
for l = 1, 4 do
  local lane = lanes[l]
  while lane.i <= #lane.steps do
    lane.steps[lane.i]()
    lane.i = lane.i + 1
  end
end
f:close()
