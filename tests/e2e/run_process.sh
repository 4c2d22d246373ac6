#!/usr/bin/env bash
# run_process.sh: `spanline run` and the process around the program: a new
# trace file per run (--append keeps adding), no file for a script that
# cannot load, patterns that matched nothing reported at exit (os.exit
# included), SIGTERM and SIGHUP (real signals: the trace is closed, open
# spans abandoned, and the process dies of the signal as lua5.4 would),
# --wrap against the default hook mode.
set -euo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
starts() { grep -c '"type":"start"' "$1" || true; }
metas() { grep -c '"type":"meta"' "$1" || true; }

# --- 1. a new run starts the file anew; --append adds ----------------------
for _ in 1 2 3; do
  spanline run --instrument run_mod -o "$tmp/t.jsonl" "$fixtures/run_prog.lua" many 5
done
[ "$(starts "$tmp/t.jsonl")" = 5 ] && [ "$(metas "$tmp/t.jsonl")" = 1 ] \
  || fail "three runs left $(starts "$tmp/t.jsonl") spans, $(metas "$tmp/t.jsonl") processes"
spanline run --append --instrument run_mod -o "$tmp/t.jsonl" "$fixtures/run_prog.lua" many 5
[ "$(starts "$tmp/t.jsonl")" = 10 ] && [ "$(metas "$tmp/t.jsonl")" = 2 ] || fail "--append"

# a stream of several processes says so; --pid N selects one (tree, report)
note=$(spanline tree "$tmp/t.jsonl" 2>&1 >/dev/null)
pids=$(grep -o '"type":"meta","format":"spanline/1","pid":[0-9]*' "$tmp/t.jsonl" | grep -o '[0-9]*$')
first=$(head -n1 <<<"$pids"); second=$(tail -n1 <<<"$pids")
[ "$note" = "spanline tree: $tmp/t.jsonl holds 2 processes (pids $first, $second): --pid N selects one" ] \
  || fail "tree note: $note"
[ "$(spanline tree "$tmp/t.jsonl" --pid "$second" | grep -c '^trace')" = 5 ] || fail "tree --pid"
[ -z "$(spanline tree "$tmp/t.jsonl" --pid "$second" 2>&1 >/dev/null)" ] || fail "tree --pid: a note"
[ "$(spanline tree "$tmp/t.jsonl" --pid 1 2>/dev/null | grep -c '^trace' || true)" = 0 ] || fail "tree --pid 1"
row=$(spanline report "$tmp/t.jsonl" --pid "$first" --format csv | grep '^run_mod.work,')
[ "$(cut -d, -f2 <<<"$row")" = 5 ] || fail "report --pid: $row"
note=$(SPANLINE_NO_FAST=1 spanline report "$tmp/t.jsonl" 2>&1 >/dev/null)
grep -q "holds 2 processes" <<<"$note" || fail "report note: $note"
set +e
msg=$(spanline tree "$tmp/t.jsonl" --pid x 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || fail "--pid x: $rc $msg"

# --- 2. a script that cannot be loaded leaves no file ----------------------
set +e
plain=$(cd "$tmp" && lua5.4 nosuch.lua 2>&1)
msg=$(cd "$tmp" && spanline run nosuch.lua 2>&1); rc=$?
set -e
[ "$rc" = 1 ] || fail "nosuch.lua status $rc"
[ "$msg" = "$plain" ] || fail "nosuch.lua message: $msg, not $plain"
[ ! -e "$tmp/nosuch.spans.jsonl" ] || fail "nosuch.lua left a trace file"
printf 'syntax error here\n' >"$tmp/bad.lua"
set +e
plain=$(cd "$tmp" && lua5.4 bad.lua 2>&1)
msg=$(cd "$tmp" && spanline run bad.lua 2>&1); rc=$?
set -e
[ "$rc" = 1 ] && [ "$msg" = "$plain" ] || fail "syntax error: $rc $msg"
[ ! -e "$tmp/bad.spans.jsonl" ] || fail "a script with a syntax error left a trace file"

# --- 3. a pattern that matched no module is reported at exit ---------------
err=$(spanline run --instrument luarocks --instrument 'run_mod' -o "$tmp/u.jsonl" \
  "$fixtures/run_prog.lua" many 1 2>&1 >/dev/null)
[ "$err" = "spanline run: --instrument 'luarocks' matched no module" ] || fail "unmatched note: $err"
set +e
err=$(spanline run --instrument 'nosuch.**' -o "$tmp/u.jsonl" "$fixtures/run_prog.lua" exit 3 2>&1 >/dev/null); rc=$?
set -e
[ "$rc" = 3 ] || fail "os.exit status with a note: $rc"
[ "$err" = "spanline run: --instrument 'nosuch.**' matched no module" ] || fail "note at os.exit: $err"
err=$(spanline run --instrument run_mod -o "$tmp/u.jsonl" "$fixtures/run_prog.lua" many 1 2>&1 >/dev/null)
[ -z "$err" ] || fail "a matched pattern is reported: $err"
set +e
msg=$(spanline run --instrument '^run_mod%.' x.lua 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "module patterns are globs" <<<"$msg" || fail "Lua pattern refused: $rc $msg"

# --- 4. SIGTERM and SIGHUP: trace closed, then death by the signal ----------
# spin: `spinning` is printed inside the traced call run_mod.work, which
# never returns. The plain run gives the status to expect.
signal_case() {
  local sig=$1 plain_rc rc pid
  lua5.4 "$fixtures/run_prog.lua" spin >"$tmp/plain.out" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q spinning "$tmp/plain.out" && break; sleep 0.05; done
  kill "-$sig" "$pid"
  set +e; wait "$pid"; plain_rc=$?; set -e
  lua5.4 "$bin" run --instrument run_mod -o "$tmp/$sig.jsonl" "$fixtures/run_prog.lua" spin \
    >"$tmp/$sig.out" 2>"$tmp/$sig.err" &
  pid=$!
  for _ in $(seq 200); do grep -q spinning "$tmp/$sig.out" && break; sleep 0.05; done
  kill "-$sig" "$pid"
  set +e; wait "$pid"; rc=$?; set -e
  [ "$rc" = "$plain_rc" ] || fail "$sig: status $rc, lua5.4 gives $plain_rc"
  [ ! -s "$tmp/$sig.err" ] || fail "$sig: stderr $(cat "$tmp/$sig.err")"
  lua5.4 - "$tmp/$sig.jsonl" <<'EOF' || fail "$sig: trace"
local query = require("spanline.query")
local q = assert(query.open(arg[1]))
local work = {}
for s in q:spans():iter() do if s.name == "run_mod.work" then work[#work + 1] = s end end
assert(q:bad_lines() == 0, "unreadable lines")
assert(#work == 1, "one work span")
assert(work[1].status == "abandoned", "open span ended as abandoned: " .. tostring(work[1].status))
EOF
}
signal_case TERM
signal_case HUP

# a program blocked reading a pipe: the read is interrupted, the trace closed
mkfifo "$tmp/fifo"
cat >"$tmp/reader.lua" <<'EOF'
package.path = arg[1] .. "/?.lua;" .. package.path
local run_mod = require("run_mod")
run_mod.work(function()
  io.write("reading\n"); io.stdout:flush()
  local f = io.open(arg[2])
  return f:read("a")
end)
EOF
exec 9<>"$tmp/fifo"   # a writer that never writes: the reader blocks
lua5.4 "$bin" run --instrument run_mod -o "$tmp/blocked.jsonl" "$tmp/reader.lua" "$fixtures" "$tmp/fifo" \
  >"$tmp/blocked.out" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q reading "$tmp/blocked.out" && break; sleep 0.05; done
sleep 0.2
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
exec 9>&-
[ "$rc" = 143 ] || fail "blocked read: status $rc"
grep -q '"status":"abandoned"' "$tmp/blocked.jsonl" || fail "blocked read: open span not ended"

# --- 5. --wrap: the same spans; callees see the wrapper's frame -------------
cat >"$tmp/where.lua" <<'EOF'
package.path = arg[1] .. "/?.lua;" .. package.path
local run_mod = require("run_mod")
run_mod.work(function() print(debug.getinfo(3, "S").short_src) end)
EOF
plain=$(lua5.4 "$tmp/where.lua" "$fixtures")
hooked=$(spanline run --instrument run_mod -o "$tmp/w1.jsonl" "$tmp/where.lua" "$fixtures")
wrapped=$(spanline run --wrap --instrument run_mod -o "$tmp/w2.jsonl" "$tmp/where.lua" "$fixtures")
[ "$hooked" = "$plain" ] || fail "hook mode changed a frame: $hooked, not $plain"
[ "$wrapped" = "[C]" ] || fail "wrap mode: $wrapped"
[ "$(starts "$tmp/w1.jsonl")" = 1 ] && [ "$(starts "$tmp/w2.jsonl")" = 1 ] || fail "--wrap spans"

echo "run_process: ok"
