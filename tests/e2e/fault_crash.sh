#!/usr/bin/env bash
# fault_crash.sh: Lua programs that die, for real. With crash = true a
# segfault (in a test-only C module) or abort() still leaves every
# buffered record and an "abandoned" end for the open span, and the process
# dies of its signal (exit status 139 / 134, as without the handler); with
# core.flush_on_signal("SIGTERM") a kill -TERM does the same (143). Without
# a handler the buffered records are lost. The flight recorder
# (ring = "16KB") writes nothing until tracer:dump() or SIGUSR1, then the
# newest records.
set -uo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/prog.lua" <<'EOF'
local spanline = require("spanline")
local core = require("spanline.core")
local how, path = arg[1], arg[2]
local tracer = spanline.tracer{ output = path, crash = how ~= "nohandler",
                                background = false, interval = 1000000 }
local outer = tracer:start("outer")
for i = 1, 1000 do tracer:start("work", { i = i }):finish() end
if how == "term" then
  assert(core.flush_on_signal("SIGTERM"))
  io.stdout:write("ready\n")
  io.stdout:flush()
  while true do end
end
require("sl_test_crash")[how == "nohandler" and "abort" or how]()
EOF

# check.lua FILE RECORDS ABANDONED: the file reads whole, with that many
# records, that many of them abandoned ends
cat >"$tmp/check.lua" <<'EOF'
local core = require("spanline.core")
local r = assert(core.reader(arg[1]))
local n, abandoned = 0, 0
while true do
  local rec = r:next()
  if not rec then break end
  n = n + 1
  if rec.status == "abandoned" then abandoned = abandoned + 1 end
end
assert(r:bad_lines() == 0, "bad lines: " .. r:bad_lines())
assert(n == tonumber(arg[2]), ("records: %d, expected %s"):format(n, arg[2]))
assert(abandoned == tonumber(arg[3]), ("abandoned: %d, expected %s"):format(abandoned, arg[3]))
EOF

expect_status() {  # name status expected
  [ "$2" -eq "$3" ] || fail "$1: exit status $2, expected $3"
}

lua5.4 "$tmp/prog.lua" segv "$tmp/segv.jsonl" 2>/dev/null
status=$?
case "${LD_PRELOAD:-}" in
  *asan*) [ $status -ne 0 ] || fail "segv: exit 0" ;;  # ASan's own handler, which ours hands the fault to, reports it
  *) expect_status segv $status 139 ;;
esac
lua5.4 "$tmp/check.lua" "$tmp/segv.jsonl" 2003 1 || fail "segv: trace"

lua5.4 "$tmp/prog.lua" abort "$tmp/abort.jsonl" 2>/dev/null
expect_status abort $? 134
lua5.4 "$tmp/check.lua" "$tmp/abort.jsonl" 2003 1 || fail "abort: trace"

# the baseline: no handler, and the buffered records die with the process
lua5.4 "$tmp/prog.lua" nohandler "$tmp/none.jsonl" 2>/dev/null
expect_status nohandler $? 134
lua5.4 "$tmp/check.lua" "$tmp/none.jsonl" 1 0 || fail "no handler: trace"

mkfifo "$tmp/ready"
lua5.4 "$tmp/prog.lua" term "$tmp/term.jsonl" >"$tmp/ready" &
pid=$!
read -r line <"$tmp/ready"
[ "$line" = ready ] || fail "term: program did not start"
kill -TERM "$pid"
wait "$pid"
expect_status term $? 143
pid=
lua5.4 "$tmp/check.lua" "$tmp/term.jsonl" 2003 1 || fail "term: trace"

# ---- flight recorder -----------------------------------------------------
cat >"$tmp/ring.lua" <<'EOF'
local spanline = require("spanline")
local out, dump = arg[1], arg[2]
local tracer = spanline.tracer{ output = out, ring = "16KB", interval = 10 }
for i = 1, 10000 do tracer:start("work", { i = i }):finish() end
assert(tracer:flush())
local f = io.open(out, "rb")
assert(f:seek("end") == 0, "a flight recorder writes nothing while tracing")
f:close()
assert(tracer:dump(dump))
assert(tracer:stats().overwritten > 0)
-- misuse names the option
assert(not pcall(spanline.tracer, { output = out, ring = "lots" }))
local ok, err = pcall(spanline.tracer, { output = ":memory:", ring = "1MB" })
assert(not ok and err:find("ring"), err)
local none = spanline.tracer{ output = ":memory:" }
local okd, msg, code = none:dump(dump .. ".x")
assert(okd == nil and code == "EINVAL", msg)
none:close()
-- SIGUSR1: the writer thread dumps to the output
io.stdout:write("ready\n")
io.stdout:flush()
local i = 10000
while true do
  i = i + 1
  tracer:start("later", { i = i }):finish()
end
EOF
cat >"$tmp/newest.lua" <<'EOF'
-- FILE NAME: whole records, a meta first, spans named NAME with consecutive
-- i up to the newest, fewer than 16 KiB hold
local core = require("spanline.core")
local r = assert(core.reader(arg[1]))
local first, last, n, meta = nil, nil, 0, 0
while true do
  local rec = r:next()
  if not rec then break end
  n = n + 1
  if rec.type == "meta" then meta = meta + 1 end
  if rec.type == "start" and rec.name == arg[2] then
    local i = assert(tonumber(rec.attrs_json:match('"i":(%d+)')))
    assert(not last or i == last + 1, "a gap after " .. tostring(last))
    first, last = first or i, i
  end
end
assert(r:bad_lines() == 0)
assert(meta == 1 and n > 50 and n < 400, ("meta %d, records %d"):format(meta, n))
assert(first and first > 1, "the oldest records are overwritten")
if arg[3] then assert(last == tonumber(arg[3]), "newest: " .. tostring(last)) end
EOF
rm -f "$tmp/ready"; mkfifo "$tmp/ready"
lua5.4 "$tmp/ring.lua" "$tmp/ring.jsonl" "$tmp/dump.jsonl" >"$tmp/ready" &
pid=$!
read -r line <"$tmp/ready"
[ "$line" = ready ] || fail "ring: program did not start"
lua5.4 "$tmp/newest.lua" "$tmp/dump.jsonl" work 10000 || fail "ring: tracer:dump()"
kill -USR1 "$pid"
for _ in $(seq 100); do
  [ -s "$tmp/ring.jsonl" ] && break
  sleep 0.1
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
lua5.4 "$tmp/newest.lua" "$tmp/ring.jsonl" later || fail "ring: SIGUSR1 dump"
echo "ok"
