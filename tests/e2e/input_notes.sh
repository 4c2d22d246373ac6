#!/usr/bin/env bash
# What tree, report and filter say about suspicious input, the same way:
# a span id started (or ended) twice while the first is still open is
# counted once per extra record and noted on stderr by every command; parent
# cycles are noted by report and filter as by tree; spans of a file's tail
# without a start record are left out (and said) by tree and report; clean
# input gets no note.
set -euo pipefail
BIN=${SPANLINE_BIN:-bin/spanline}
FIX=${SPANLINE_FIXTURES:-tests/fixtures}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

id=019ab697e80070198019000f736ae249
{
  echo "{\"type\":\"start\",\"id\":\"$id\",\"trace\":\"$id\",\"name\":\"a\",\"ts\":1764000000000000000,\"lane\":1}"
  echo "{\"type\":\"start\",\"id\":\"$id\",\"trace\":\"$id\",\"name\":\"b\",\"ts\":1764000000000002000,\"lane\":1}"
  echo "{\"type\":\"end\",\"id\":\"$id\",\"ts\":1764000000000001000,\"status\":\"ok\"}"
} > "$tmp/dup.jsonl"
for cmd in tree report "filter --where true"; do
  # shellcheck disable=SC2086
  lua5.4 "$BIN" $cmd "$tmp/dup.jsonl" > "$tmp/out" 2> "$tmp/err" || fail "$cmd: exit $?: $(cat "$tmp/err")"
  name=${cmd%% *}
  [ "$(cat "$tmp/err")" = "spanline $name: 1 duplicate record ignored (a second start or end for one span id)" ] \
    || fail "$cmd on a duplicate start: $(cat "$tmp/err")"
done
# the first start counts: the span is a, in tree and report alike
lua5.4 "$BIN" tree "$tmp/dup.jsonl" 2>/dev/null | grep -q '^a ' || fail "tree did not keep the first start"
lua5.4 "$BIN" report "$tmp/dup.jsonl" 2>/dev/null | grep -q '^a ' || fail "report did not keep the first start"

# a file that begins after some spans started (tail of a stream): tree draws
# no empty trace for their end records, and says so
{
  echo "{\"type\":\"end\",\"id\":\"$id\",\"ts\":1764000000000001000,\"status\":\"ok\"}"
  echo "{\"type\":\"start\",\"id\":\"${id%?}a\",\"trace\":\"${id%?}a\",\"name\":\"c\",\"ts\":1764000000000002000,\"lane\":1}"
  echo "{\"type\":\"end\",\"id\":\"${id%?}a\",\"ts\":1764000000000003000,\"status\":\"ok\"}"
} > "$tmp/tail.jsonl"
lua5.4 "$BIN" tree "$tmp/tail.jsonl" > "$tmp/out" 2> "$tmp/err" || fail "tree on a tail: exit $?: $(cat "$tmp/err")"
[ "$(grep -c '^trace ' "$tmp/out")" = 1 ] || fail "tree on a tail: $(cat "$tmp/out")"
grep -q '^c ' "$tmp/out" || fail "tree on a tail lost c: $(cat "$tmp/out")"
[ "$(cat "$tmp/err")" = "spanline tree: 1 trace without a start record not shown (it started before the file begins)" ] \
  || fail "tree on a tail: $(cat "$tmp/err")"
# report leaves those spans out of its rows (they have no name and no
# duration: a "(none)" row of dashes before), and says so; --by status too
for by in name status; do
  lua5.4 "$BIN" report --by "$by" "$tmp/tail.jsonl" > "$tmp/out" 2> "$tmp/err" || fail "report on a tail: exit $?"
  [ "$(wc -l < "$tmp/out")" = 2 ] || fail "report --by $by on a tail: $(cat "$tmp/out")"
  awk 'NR == 2 && $2 == 1 { found = 1 } END { exit !found }' "$tmp/out" || fail "report --by $by counts: $(cat "$tmp/out")"
  [ "$(cat "$tmp/err")" = "spanline report: 1 span without a start record left out (it started before the file begins)" ] \
    || fail "report --by $by on a tail: $(cat "$tmp/err")"
done

# a tail may also begin with an event of a span still open at its end: no
# start and no end record either; report leaves it out too, and its note
# claims no end record for it
{
  echo "{\"type\":\"event\",\"id\":\"${id%?}b\",\"name\":\"tick\",\"ts\":1764000000000000500}"
  cat "$tmp/tail.jsonl"
} > "$tmp/tail_open.jsonl"
lua5.4 "$BIN" report "$tmp/tail_open.jsonl" > "$tmp/out" 2> "$tmp/err" || fail "report on an open tail: exit $?"
[ "$(wc -l < "$tmp/out")" = 2 ] || fail "report on an open tail: $(cat "$tmp/out")"
[ "$(cat "$tmp/err")" = "spanline report: 2 spans without a start record left out (they started before the file begins)" ] \
  || fail "report on an open tail: $(cat "$tmp/err")"
for cmd in report "filter --where true"; do
  # shellcheck disable=SC2086
  lua5.4 "$BIN" $cmd "$FIX/query_cycle.jsonl" > /dev/null 2> "$tmp/err" || fail "$cmd: exit $?"
  grep -q "parent cycles cut$" "$tmp/err" || fail "$cmd on cycles: $(cat "$tmp/err")"
done

for cmd in tree report "filter --where true"; do
  # shellcheck disable=SC2086
  lua5.4 "$BIN" $cmd "$FIX/query_basic.jsonl" > /dev/null 2> "$tmp/err" || fail "$cmd basic: exit $?"
  [ ! -s "$tmp/err" ] || fail "$cmd: a note on clean input: $(cat "$tmp/err")"
done
echo "ok"
