#!/usr/bin/env bash
# `spanline report`: the latency table on known fixtures (hand-checked
# numbers), --by/--where/--format/--top, js-logger streams, and one-line
# errors (missing, unreadable, empty, garbage file; bad --where: exit 2).
set -euo pipefail
bin=${SPANLINE_BIN:-bin/spanline}
fix=${SPANLINE_FIXTURES:-tests/fixtures}
run() { lua5.4 "$bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
no_traceback() { if grep -q "traceback" <<<"$1"; then fail "traceback leaked: $1"; fi; }

out=$(run report "$fix/query_pct.jsonl")
line=$(grep '^op ' <<<"$out") || fail "no op row: $out"
# count errors open total min mean stdev p50 p90 p95 p99 max
read -r _ count errors open total min mean _ p50 p90 p95 p99 max _ <<<"$line"
[ "$count $errors $open" = "10 1 0" ] || fail "counts: $line"
[ "$total $min $mean" = "55.0ms 1.00ms 5.50ms" ] || fail "total/min/mean: $line"
[ "$p50 $p90 $p95 $p99 $max" = "5.00ms 9.00ms 10.0ms 10.0ms 10.0ms" ] || fail "percentiles: $line"
# largest total first: other (50ms) after op (55ms)
[ "$(sed -n 2p <<<"$out" | awk '{print $1}')" = "op" ] || fail "order: $out"

csv=$(run report "$fix/query_basic.jsonl" --by status --format csv)
grep -q '^status,count,' <<<"$csv" || fail "csv header: $csv"
grep -q '^ok,9,0,0,' <<<"$csv" || fail "csv ok row: $csv"
grep -q '^open,1,0,1,' <<<"$csv" || fail "csv open row: $csv"

json=$(run report "$fix/query_basic.jsonl" --where 'name == "db.query" and dur >= 4ms' --format json)
n=$(jq length <<<"$json")
[ "$n" = 1 ] || fail "json rows $n: $json"
[ "$(jq -r '.[0].count' <<<"$json")" = 3 ] || fail "where count: $json"
[ "$(jq -r '.[0].p50' <<<"$json")" = 30000000 ] || fail "where p50: $json"

top=$(run report "$fix/query_basic.jsonl" --top 2)
[ "$(wc -l <<<"$top")" = 3 ] || fail "--top 2 lines: $top"

attr=$(run report "$fix/query_basic.jsonl" --by attr.sql --format csv)
grep -q '^select 1,1,' <<<"$attr" || fail "attr group: $attr"

# js-logger streams
pk=$(run report "$fix/js-logger/polykey-cli-agent-start.jsonl" --format json)
[ "$(jq '[.[].count] | add' <<<"$pk")" = 759 ] || fail "polykey spans: $(jq '[.[].count] | add' <<<"$pk")"
[ "$(jq -r '.[] | select(.name == "polykeyRoot") | .count' <<<"$pk")" = 1 ] || fail "polykeyRoot"
run report "$fix/js-logger/js-quic.jsonl" | grep -q '^cd-QUICStream ' || fail "js-quic report"

# bad lines: reported on stderr with numbers, output still produced
err=$(run report "$fix/query_bad.jsonl" 2>&1 >/dev/null)
grep -q "skipped 3 bad lines (first: 3, 5, 7)" <<<"$err" || fail "bad lines note: $err"

# errors: one line, non-zero, no traceback
check_err() {
  local want_code=$1 pattern=$2; shift 2
  set +e
  local e
  e=$(run "$@" 2>&1 >/dev/null); local code=$?
  set -e
  [ "$code" = "$want_code" ] || fail "$* exit $code, want $want_code ($e)"
  grep -q "$pattern" <<<"$e" || fail "$* message: $e"
  no_traceback "$e"
  [ "$(wc -l <<<"$e")" -le 3 ] || fail "$* message too long: $e"
}
check_err 1 "No such file" report /nonexistent/spans.jsonl
check_err 1 "query_empty.jsonl: no span records$" report "$fix/query_empty.jsonl"
check_err 1 "no span records (2 bad lines, first at line 1)" report "$fix/query_garbage.txt"
check_err 1 "Is a directory" report /tmp
check_err 2 "bad --where expression" report "$fix/query_basic.jsonl" --where 'dur > > 5ms'
check_err 2 "format must be" report "$fix/query_basic.jsonl" --format xml
if [ "$(id -u)" != 0 ]; then
  tmp=$(mktemp); chmod 000 "$tmp"
  check_err 1 "Permission denied" report "$tmp"
  rm -f "$tmp"
fi
# the syntax error shows the expression and a caret under the position
set +e
e=$(run report "$fix/query_basic.jsonl" --where 'dur > > 5ms' 2>&1); set -e
grep -q "^  dur > > 5ms$" <<<"$e" || fail "expression not echoed: $e"
grep -q "^      ^$" <<<"$e" || fail "caret: $e"

# remote (16-hex) parents: server [0,10ms] minus its remote child handler
# [1,6ms] = 5ms self
rem=$(run report "$fix/query_remote.jsonl" --format csv)
grep -q '^server,1,0,0,10000000,.*,5000000,5000000.0$' <<<"$rem" || fail "remote self time: $rem"
grep -q '^handler,1,1,0,5000000,.*,2000000,2000000.0$' <<<"$rem" || fail "remote handler self: $rem"

# stdin
run report - <"$fix/query_pct.jsonl" | grep -q '^op ' || fail "stdin"
echo "report_cli ok"
