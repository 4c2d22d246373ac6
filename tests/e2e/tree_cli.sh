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

# a parent cycle (a <-> b) and a self-parent: cut, marked, no failure
cy=$(run tree "$fix/query_cycle.jsonl")
grep -q '^a  4.00ms  (orphan)  (parent cycle cut: parent 00000000000000000000000000000002)$' <<<"$cy" || fail "cycle a: $cy"
grep -q '^└─ b  2.00ms$' <<<"$cy" || fail "cycle b under a: $cy"
grep -q '^self  3.00ms  (orphan)  (parent cycle cut: parent 00000000000000000000000000000003)$' <<<"$cy" || fail "self parent: $cy"

# a 10^5-deep chain: no stack overflow, one line per span, capped guides
tmp=$(mktemp)
lua5.4 "$(dirname "$0")/gen_chain.lua" 100000 d%d 300000 >"$tmp"
# (the output is ~20 MB: kept in a file, not a shell variable, which is slow
# when bash runs with the sanitizers' allocator preloaded)
deep="$tmp.out"
run tree "$tmp" >"$deep" || { rm -f "$tmp" "$deep"; fail "deep chain tree failed"; }
rm -f "$tmp"
[ "$(wc -l <"$deep")" = 100001 ] || fail "deep lines: $(wc -l <"$deep")"
grep -q '^trace 0\{31\}1  100000 spans' <(head -1 "$deep") || fail "deep header: $(head -1 "$deep")"
last=$(tail -1 "$deep")
rm -f "$deep"
grep -q '\[depth 99999\] └─ d100000  100us$' <<<"$last" || fail "deep last line: ${last: -80}"

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
