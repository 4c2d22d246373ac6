-- gen_chain.lua: writes a span stream where span i's parent is span i-1 (a
-- chain N deep, one trace), for the e2e tests of deep trees.
-- usage: lua5.4 tests/e2e/gen_chain.lua N NAME_FORMAT END_BASE > FILE
--   NAME_FORMAT: string.format pattern given i ("n", "d%d");
--   END_BASE: span i ends at t0 + END_BASE - i (starts at t0 + i), so the
--   deepest span lasts END_BASE - 2N ns.
local n = assert(math.tointeger(tonumber(arg[1])), "N")
local name_format = arg[2] or "n"
local end_base = assert(math.tointeger(tonumber(arg[3] or 2 * n + 1)), "END_BASE")
local t0 = 1764000000000000000
local function id(i) return string.format("%032x", i) end
local out = {}
for i = 1, n do
  out[#out + 1] = string.format([[{"type":"start","id":"%s","trace":"%s"%s,"name":"%s","ts":%d,"lane":1}]],
    id(i), id(1), i > 1 and string.format([[,"parent":"%s"]], id(i - 1)) or "",
    string.format(name_format, i), t0 + i)
end
for i = n, 1, -1 do
  out[#out + 1] = string.format([[{"type":"end","id":"%s","ts":%d,"status":"ok"}]], id(i), t0 + end_base - i)
end
io.write(table.concat(out, "\n"), "\n")
