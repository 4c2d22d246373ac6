-- record_sizes.lua: what each field of a span costs in spanline/1 JSONL,
-- and what the format proposals in tests/bench/README.md would save, on a
-- generated stream of request-shaped traces (a root, 3 children, 9
-- grandchildren, one attribute each).
--
-- Usage: lua5.4 tests/bench/record_sizes.lua [TRACES]  (LUA_PATH/LUA_CPATH as for the tests)
-- Prints `bench record.<field> bytes_per_span=...` and
-- `bench record.save_<proposal> bytes_per_span=... percent=...`.
local spanline = require("spanline")

local traces = tonumber(arg and arg[1]) or 2000
local path = string.format("%s/spanline-record-sizes-%d.jsonl", os.getenv("TMPDIR") or "/tmp",
                           math.random(1, 1e9))
local tracer = assert(spanline.tracer{ output = path })
local kinds = { "db.query", "cache.get", "render" }
for _ = 1, traces do
  local root = tracer:start("http.request", "route", "/users/:id")
  for i = 1, 3 do
    local child = tracer:start(kinds[i], "rows", i * 7)
    for _ = 1, 3 do tracer:start("step", "user", "ann"):finish() end
    child:finish()
  end
  root:finish()
end
tracer:close()

local total, spans = 0, 0
local field = {}                -- bytes of ,"key":value per field of start records
local save = { trace = 0, end_dur = 0, end_status_ok = 0, lane_1 = 0, short_type = 0 }
local start_ts = {}
for line in io.lines(path) do
  total = total + #line + 1
  local kind = line:match('^{"type":"(%a+)"')
  if kind == "start" then
    spans = spans + 1
    for key, value in line:gmatch('"(%a+)":("?[^,}]*"?)') do
      field[key] = (field[key] or 0) + #key + 3 + #value
    end
    start_ts[line:match('"id":"(%x+)"')] = math.tointeger(tonumber(line:match('"ts":(%d+)')))
    -- the trace id: the root's own id, or the parent's trace (known to the reader)
    save.trace = save.trace + #(line:match(',"trace":"%x+"') or "")
    if line:find(',"lane":1[,}]') then save.lane_1 = save.lane_1 + #',"lane":1' end
    save.short_type = save.short_type + #'"type":"start"' - #'"t":"s"'
  elseif kind == "end" then
    field.end_record = (field.end_record or 0) + #line + 1
    local ts = line:match('"ts":(%d+)')
    local dur = math.tointeger(tonumber(ts)) - start_ts[line:match('"id":"(%x+)"')]
    save.end_dur = save.end_dur + #(',"ts":' .. ts) - #(',"dur":' .. dur)
    if line:find(',"status":"ok"', 1, true) then save.end_status_ok = save.end_status_ok + #',"status":"ok"' end
    save.short_type = save.short_type + #'"type":"end"' - #'"t":"e"'
  end
end
os.remove(path)

print(string.format("bench record.total bytes_per_span=%.1f spans=%d", total / spans, spans))
local keys = {}
for key in pairs(field) do keys[#keys + 1] = key end
table.sort(keys)
for _, key in ipairs(keys) do
  print(string.format("bench record.%s bytes_per_span=%.1f", key, field[key] / spans))
end
local names = {}
for name in pairs(save) do names[#names + 1] = name end
table.sort(names)
local lossless = 0
for _, name in ipairs(names) do
  print(string.format("bench record.save_%s bytes_per_span=%.1f percent=%.1f", name,
                      save[name] / spans, 100 * save[name] / total))
  if name ~= "short_type" then lossless = lossless + save[name] end
end
print(string.format("bench record.save_trace_dur_status_lane bytes_per_span=%.1f percent=%.1f",
                    lossless / spans, 100 * lossless / total))
