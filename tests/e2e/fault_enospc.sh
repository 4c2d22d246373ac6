#!/usr/bin/env bash
# fault_enospc.sh: a full disk, for real: a 64 KiB tmpfs (mounted in a
# private mount namespace; needs root, else skipped with 77) fills while a
# tracer writes to it, then space is freed. One fault costs at most the
# record it tore: the next record starts on a fresh line, stats count
# exactly the records and bytes that reached the file, flush() and close()
# return nil, message, "ENOSPC" (flush = "always" too).
set -euo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
mnt=$tmp/small
mkdir "$mnt"

if ! unshare -m --propagation private true 2>/dev/null; then
  echo "SKIP: cannot make a mount namespace (needs root)"
  exit 77
fi

cat >"$tmp/fill.lua" <<'EOF'
local spanline = require("spanline")
local core = require("spanline.core")
local dir = arg[1]
local path = dir .. "/spans.jsonl"

local function fill(name, bytes)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  local chunk = string.rep("x", 1024)
  local written = 0
  while not bytes or written < bytes do
    if not f:write(chunk) or not f:flush() then break end
    written = written + #chunk
  end
  f:close()
end

-- a filler holds a third of the space: removing it makes room again
fill("filler", 20 * 1024)
local tracer = assert(spanline.tracer{ output = path, background = false, interval = 100000 })
local n, ok, msg, code = 0, true, nil, nil
while ok and n < 100000 do
  for _ = 1, 100 do
    tracer:start("before", { i = n }):finish()
    n = n + 1
  end
  ok, msg, code = tracer:flush()
end
assert(not ok, "the disk never filled")
assert(code == "ENOSPC", "flush: " .. tostring(msg) .. " " .. tostring(code))
assert(msg:find("No space left"), msg)
local full = tracer:stats()
assert(full.write_errors >= 1 and full.dropped > 0)

os.remove(dir .. "/filler")
for i = 1, 50 do tracer:start("after", { i = i }):finish() end
assert(tracer:flush())
assert(tracer:close())
local st = tracer:stats()

-- what the file holds: whole records, at most one torn line
local reader = assert(core.reader(path))
local records, after = 0, 0
while true do
  local rec = reader:next()
  if not rec then break end
  records = records + 1
  if rec.name == "after" then after = after + 1 end
end
local bad = reader:bad_lines()
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
assert(bad <= 1, "bad lines: " .. bad)
assert(records == st.records, ("records in the file %d, stats say %d"):format(records, st.records))
assert(size == st.bytes, ("bytes in the file %d, stats say %d"):format(size, st.bytes))
assert(after == 50, "'after' spans whose start record survived: " .. after)

-- a disk with no room at all: flush = "always" reports it like batch does
fill("rest")
local always = assert(spanline.tracer{ output = dir .. "/always.jsonl", flush = "always" })
always:start("lost"):finish()
local ok2, msg2, code2 = always:flush()
assert(ok2 == nil and code2 == "ENOSPC", "always flush: " .. tostring(msg2) .. " " .. tostring(code2))
-- and close() says when its own last write failed
local batch = assert(spanline.tracer{ output = dir .. "/batch.jsonl", background = false, interval = 100000 })
batch:start("lost"):finish()
local ok3, msg3, code3 = batch:close()
assert(ok3 == nil and code3 == "ENOSPC", "close: " .. tostring(msg3) .. " " .. tostring(code3))
assert(select("#", always:close()) >= 1)
print(("ok: %d records, %d bytes, %d torn line(s), %d dropped"):format(records, size, bad, st.dropped))
EOF

unshare -m --propagation private bash -c '
  mount -t tmpfs -o size=64k tmpfs "$1" || exit 77
  lua5.4 "$2" "$1"
' _ "$mnt" "$tmp/fill.lua"
