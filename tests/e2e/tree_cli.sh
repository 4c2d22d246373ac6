#!/usr/bin/env bash
# `spanline tree`: box-drawn span trees (hand-checked on a fixture), --trace,
# js-logger streams, one-line errors.
set -euo pipefail
bin=${SPANLINE_BIN:-bin/spanline}
fix=${SPANLINE_FIXTURES:-tests/fixtures}
run() { lua5.4 "$bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

out=$(run tree "$fix/query_basic.jsonl" --trace 00000000000000000000000000000001)
want="trace 00000000000000000000000000000001  5 spans  120ms  1 error
request  100ms
├─ db.query  30.0ms
├─ db.query  30.0ms  ERROR: timeout
│  └─ net.read  10.0ms
└─ render  30.0ms"
[ "$out" = "$want" ] || fail "tree:
$out"

all=$(run tree "$fix/query_basic.jsonl")
[ "$(grep -c '^trace ' <<<"$all")" = 6 ] || fail "6 traces: $all"
grep -q '^late.parent  11.0ms  abandoned$' <<<"$all" || fail "late parent: $all"
grep -q '^└─ child  3.00ms$' <<<"$all" || fail "re-parented child: $all"
grep -q '^worker  (open)$' <<<"$all" || fail "open span: $all"

pk=$(run tree "$fix/js-logger/polykey-cli-agent-start.jsonl")
grep -q '^trace [0-9a-f]\{32\}  759 spans' <<<"$pk" || fail "polykey header: $(head -1 <<<"$pk")"
[ "$(grep -c -- '─ ' <<<"$pk")" = 758 ] || fail "polykey children: $(grep -c -- '─ ' <<<"$pk")"
grep -q '^polykeyRoot ' <<<"$pk" || fail "polykey root"
q=$(run tree "$fix/js-logger/js-quic.jsonl")
[ "$(grep -c '^trace ' <<<"$q")" = 6 ] || fail "js-quic traces: $q"
grep -q '^└─ ss-QUICSocket' <<<"$q" || fail "js-quic nesting: $q"

set +e
e=$(run tree "$fix/query_basic.jsonl" --trace ffff 2>&1); code=$?
set -e
[ "$code" = 1 ] && grep -q "no trace starting with 'ffff'" <<<"$e" || fail "unknown trace: $code $e"
set +e
e=$(run tree /nonexistent 2>&1); code=$?
set -e
[ "$code" = 1 ] && grep -q "No such file" <<<"$e" || fail "missing: $code $e"
if grep -q traceback <<<"$e"; then fail "traceback"; fi
echo "tree_cli ok"
