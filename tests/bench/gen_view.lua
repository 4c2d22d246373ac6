-- gen_view.lua: writes a large spanline/1 stream for the viewer benchmark.
--
-- usage: lua5.4 tests/bench/gen_view.lua OUT.jsonl [SPANS] (default 10^6)
-- Traces of 100 spans: request -> 3 handlers -> 32 children each, most of
-- them runs of repeated names (db.query, cache.get) so the viewer's
-- collapsing matters; 1% errors; the last trace is left open. A trace
-- starts every 5 ms and lasts less, so records come in time order, as a
-- real process writes them.

local out_path = arg[1] or error("usage: gen_view.lua OUT.jsonl [SPANS]")
local total = math.tointeger(tonumber(arg[2] or "1000000"))
local out = assert(io.open(out_path, "w"))
out:setvbuf("full", 1 << 20)

local T0 = 1764000000000000000
local next_id = 0
local function new_id()
  next_id = next_id + 1
  return string.format("0190%028x", next_id)
end

local buf, n = {}, 0
local function emit(line)
  n = n + 1
  buf[n] = line
  if n == 4096 then
    out:write(table.concat(buf, "\n", 1, n), "\n")
    n = 0
  end
end

local function start(id, trace, parent, name, ts, lane, attrs)
  emit(string.format('{"type":"start","id":"%s","trace":"%s",%s"name":"%s","ts":%d,"lane":%d%s}',
    id, trace, parent and ('"parent":"' .. parent .. '",') or "", name, ts, lane,
    attrs and (',"attrs":' .. attrs) or ""))
end
local function finish(id, ts, status, err)
  emit(string.format('{"type":"end","id":"%s","ts":%d,"status":"%s"%s}', id, ts, status,
    err and (',"error":"' .. err .. '"') or ""))
end

emit('{"type":"meta","format":"spanline/1","pid":1,"service":"bench","host":"gen","ts":' .. T0 .. '}')
local spans, t, trace_no = 0, T0, 0
local CHILD_NAMES = { "db.query", "cache.get", "render" }
while spans < total do
  trace_no = trace_no + 1
  local last = spans + 100 >= total
  local root = new_id()
  local t_root = t
  start(root, root, nil, "request", t, 1, '{"path":"/item/' .. trace_no .. '"}')
  spans = spans + 1
  local tt = t + 1000
  for h = 1, 3 do
    if spans >= total then break end
    local hid = new_id()
    start(hid, root, root, "handler." .. h, tt, h, nil)
    spans = spans + 1
    local t_h = tt
    for c = 1, 32 do
      if spans >= total then break end
      local cid = new_id()
      local name = CHILD_NAMES[(c - 1) // 12 + 1]
      start(cid, root, hid, name, tt, h, c == 1 and '{"sql":"select * from items where id = ?"}' or nil)
      spans = spans + 1
      local d = 5000 + (c * 7919 + trace_no * 104729) % 40000
      tt = tt + d
      if (trace_no * 31 + c) % 100 == 0 then
        finish(cid, tt, "error", "timeout")
      else
        finish(cid, tt, "ok")
      end
      tt = tt + 500
    end
    tt = tt + 1000
    finish(hid, tt, "ok")
  end
  if not last then finish(root, tt + 1000, "ok") end
  t = t_root + 5000000   -- a request every 5 ms
end
if n > 0 then out:write(table.concat(buf, "\n", 1, n), "\n") end
out:close()
io.stderr:write(string.format("wrote %d spans in %d traces to %s\n", spans, trace_no, out_path))
