#!/usr/bin/env bash
# spanline tree on input with parent cycles: the trees print (the span that
# would close a cycle is a root marked "parent cycle cut") and stderr says
# how many cycles were cut, once; clean input prints no such note.
set -euo pipefail
BIN=${SPANLINE_BIN:-bin/spanline}
FIX=${SPANLINE_FIXTURES:-tests/fixtures}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

lua5.4 "$BIN" tree "$FIX/query_cycle.jsonl" > "$tmp/out" 2> "$tmp/err" || fail "exit $?: $(cat "$tmp/err")"
[ "$(cat "$tmp/err")" = "spanline tree: 2 parent cycles cut" ] || fail "stderr: $(cat "$tmp/err")"
grep -q '^a .*(parent cycle cut' "$tmp/out" || fail "a not marked: $(cat "$tmp/out")"
grep -q '^└─ b ' "$tmp/out" || fail "b not under a: $(cat "$tmp/out")"
grep -q '^self .*(parent cycle cut' "$tmp/out" || fail "self-parent not marked"

# one cycle: singular
head -1 "$FIX/query_cycle.jsonl" > "$tmp/one.jsonl"
sed -n 2p "$FIX/query_cycle.jsonl" >> "$tmp/one.jsonl"
lua5.4 "$BIN" tree "$tmp/one.jsonl" > /dev/null 2> "$tmp/err" || fail "one: exit $?"
[ "$(cat "$tmp/err")" = "spanline tree: 1 parent cycle cut" ] || fail "one cycle stderr: $(cat "$tmp/err")"

# no cycle: no note
lua5.4 "$BIN" tree "$FIX/query_basic.jsonl" > /dev/null 2> "$tmp/err" || fail "basic: exit $?"
! grep -q cycle "$tmp/err" || fail "note on clean input: $(cat "$tmp/err")"
echo "tree_cycles: ok"
