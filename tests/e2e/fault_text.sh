#!/usr/bin/env bash
# fault_text.sh: hostile text and nonsense numbers in a stream. Span names,
# error messages and attribute values carrying terminal escapes (set the
# title: ESC ] 0 ; title BEL, clear the screen: ESC [2J, a carriage return
# drawing a fake line) reach no terminal raw from tree, report (table and
# CSV), view --plain or the error notes; an end before its start and a
# timestamp near 2^64 are flagged, never shown as negative durations; an
# empty file is an error (exit 1, "no span records") for view --plain as for
# the others.
set -uo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
spanline() { timeout 60 lua5.4 "$bin" "$@"; }

lua5.4 - "$tmp/evil.jsonl" <<'EOF'
local spanline = require("spanline")
local tracer = spanline.tracer{ output = arg[1] }
local evil = "\27]0;pwned title\7\27[2Jname\r\nfake line"
local root = tracer:start(evil, { who = "\27[31mred\27[0m" })
tracer:start("child"):finish("error", "boom \27]0;title\7 \27[2J\rgone")
root:finish()
tracer:close()
EOF

no_controls() {  # file what
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; then
    fail "$2: control characters reached the output: $(od -c "$1" | head -5)"
  fi
}
spanline tree "$tmp/evil.jsonl" >"$tmp/out" 2>&1 || fail "tree"
no_controls "$tmp/out" tree
grep -q "pwned title" "$tmp/out" || fail "tree: the name is not shown at all"
for args in "" "--format csv" "--by attr.who" "--by attr.who --format csv"; do
  # shellcheck disable=SC2086
  spanline report "$tmp/evil.jsonl" $args >"$tmp/out" 2>&1 || fail "report $args"
  no_controls "$tmp/out" "report $args"
done
spanline view --plain "$tmp/evil.jsonl" >"$tmp/out" 2>&1 || fail "view --plain"
no_controls "$tmp/out" "view --plain"
spanline filter "$tmp/evil.jsonl" --where 'error(name)' >/dev/null 2>"$tmp/out" || fail "filter"
grep -q "counted as no match" "$tmp/out" || fail "filter: no note"
no_controls "$tmp/out" "filter's note"

# nonsense timestamps: flagged, not negative numbers
id1=0123456789abcdef0123456789abcdef
id2=0123456789abcdef0123456789abcdee
cat >"$tmp/bad.jsonl" <<EOF
{"type":"start","id":"$id1","name":"backwards","ts":2000000}
{"type":"end","id":"$id1","ts":1000000,"status":"ok"}
{"type":"start","id":"$id2","name":"far","ts":18446744073709551615}
{"type":"end","id":"$id2","ts":1000000,"status":"ok"}
EOF
spanline tree "$tmp/bad.jsonl" >"$tmp/out" 2>&1 || fail "tree bad: $(cat "$tmp/out")"
grep -q "backwards  (bad timestamps" "$tmp/out" || fail "tree: end before start not flagged: $(cat "$tmp/out")"
grep -q "far  (bad timestamps" "$tmp/out" || fail "tree: ts near 2^64 not flagged: $(cat "$tmp/out")"
grep -qE '(^| )-[0-9]' "$tmp/out" && fail "tree shows a negative number: $(cat "$tmp/out")"
spanline report "$tmp/bad.jsonl" >"$tmp/out" 2>&1 || fail "report bad"
grep -q "negative" "$tmp/out" || fail "report: not flagged: $(cat "$tmp/out")"
grep -qE '(^| )-[0-9]' "$tmp/out" && fail "report shows a negative number: $(cat "$tmp/out")"

# an empty file: exit 1 everywhere
: >"$tmp/empty.jsonl"
for cmd in tree report "filter --where true" "view --plain"; do
  # shellcheck disable=SC2086
  spanline $cmd "$tmp/empty.jsonl" >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 1 ] || fail "$cmd on an empty file: exit $rc"
  grep -q "empty.jsonl: no span records$" "$tmp/err" || fail "$cmd on an empty file: $(cat "$tmp/err")"
done
echo ok
