#!/usr/bin/env bash
# Pushing to a collector: a real OTLP/HTTP receiver on loopback (Node, decoding
# with the OpenTelemetry JS packages' definitions) gets every span exactly
# once: from a file (protobuf and JSON, custom headers), while the receiver
# refuses requests for a while (503, then 429 with Retry-After) and recovers,
# from a growing file with --follow, and straight from a running tracer
# (output = "otlp+http://..."). A receiver that never comes back: the spans
# are reported as not delivered and the exit status says so.
# Needs node and `npm ci --prefix tests/otlp` (exit 77 without them).
set -euo pipefail
. tests/otlp/e2e_env.sh
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start_receiver NAME [FAIL_FIRST [REJECT_PER_REQUEST]]: sets port; spans land in $tmp/NAME.got
start_receiver() {
  rm -f "$tmp/$1.port"
  node tests/otlp/receiver.js --port-file "$tmp/$1.port" --out "$tmp/$1.got" --headers "$tmp/$1.headers" \
    --fail "${2:-0}" --reject "${3:-0}" --max-seconds 120 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/$1.port" ] && break; sleep 0.1; done
  port=$(cat "$tmp/$1.port")
}

# every span id of ids file $2 received exactly once by receiver $1
check_once() {
  local want got dup
  want=$(awk '{print substr($1, 17)}' "$2" | sort)
  got=$(awk '{print $2}' "$tmp/$1.got" | sort)
  dup=$(uniq -d <<<"$got")
  [ -z "$dup" ] || fail "$1: spans received twice: $(head -3 <<<"$dup")"
  [ "$want" = "$got" ] || fail "$1: $(wc -l <<<"$want") spans written, $(wc -l <<<"$got") received"
}

lua5.4 tests/otlp/spans.lua "$tmp/spans.jsonl" 200 >"$tmp/spans.ids"

# a file, protobuf, in batches of 16, with headers
start_receiver file
run export "$tmp/spans.jsonl" --to otlp-proto --endpoint "http://127.0.0.1:$port" --batch 16 \
  --header "Authorization=Bearer t0k" --header "X-Tenant: acme" 2>"$tmp/file.err" || fail "export: $(cat "$tmp/file.err")"
check_once file "$tmp/spans.ids"
grep -q '"authorization":"Bearer t0k"' "$tmp/file.headers" || fail "no Authorization header"
grep -q '"x-tenant":"acme"' "$tmp/file.headers" || fail "no X-Tenant header"
grep -q '"content-type":"application/x-protobuf"' "$tmp/file.headers" || fail "content type"
grep -q "200 spans sent in 13 requests (0 retried), 0 dropped" "$tmp/file.err" || fail "report: $(cat "$tmp/file.err")"

# JSON, while the receiver refuses the first 4 requests (503, 429 + Retry-After)
start_receiver flaky 4
run export "$tmp/spans.jsonl" --to otlp-json --endpoint "http://127.0.0.1:$port/v1/traces" --batch 50 \
  2>"$tmp/flaky.err" || fail "export: $(cat "$tmp/flaky.err")"
check_once flaky "$tmp/spans.ids"
grep -q "200 spans sent in 8 requests (4 retried), 0 dropped" "$tmp/flaky.err" || fail "report: $(cat "$tmp/flaky.err")"

# a partial success (2xx naming rejected spans), protobuf and JSON: the
# rejected spans are reported, not counted as sent, and the exit status is 1
for fmt in proto json; do
  start_receiver "partial_$fmt" 0 3
  set +e
  lua5.4 "$bin" export "$tmp/spans.jsonl" --to "otlp-$fmt" --endpoint "http://127.0.0.1:$port" --batch 50 \
    2>"$tmp/partial.err"
  st=$?
  set -e
  [ "$st" = 1 ] || fail "partial success ($fmt): exit $st: $(cat "$tmp/partial.err")"
  grep -q "188 spans sent in 4 requests (0 retried), 0 dropped, 12 rejected by the collector" "$tmp/partial.err" \
    || fail "partial success ($fmt) report: $(cat "$tmp/partial.err")"
done

# --follow: a file that grows while the exporter runs; SIGINT ends it
start_receiver follow
: >"$tmp/grow.jsonl"
lua5.4 "$bin" export "$tmp/grow.jsonl" --to otlp-proto --endpoint "http://127.0.0.1:$port" --follow 2>"$tmp/follow.err" &
fpid=$!
pids+=($fpid)
lua5.4 tests/otlp/spans.lua "$tmp/grow.jsonl" 60 "" 10 100 >"$tmp/grow.ids"
for _ in $(seq 100); do [ "$(wc -l <"$tmp/follow.got")" -ge 60 ] && break; sleep 0.1; done
kill -INT "$fpid"
wait "$fpid" || fail "follow exit status: $(cat "$tmp/follow.err")"
check_once follow "$tmp/grow.ids"

# the tracer itself, output = "otlp+http://...", while the receiver refuses 2 requests
start_receiver tracer 2
lua5.4 tests/otlp/spans.lua "" 100 "otlp+http://127.0.0.1:$port" >"$tmp/tracer.ids"
check_once tracer "$tmp/tracer.ids"

# nobody listening: undelivered spans are reported, exit status 1
start_receiver gone
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
set +e
timeout 120 lua5.4 "$bin" export "$tmp/spans.jsonl" --to otlp-proto --endpoint "http://127.0.0.1:$port" \
  --queue 64 --timeout 1s 2>"$tmp/gone.err"
st=$?
set -e
[ "$st" = 1 ] || fail "unreachable collector: exit $st: $(cat "$tmp/gone.err")"
grep -q "0 spans sent" "$tmp/gone.err" || fail "gone report: $(cat "$tmp/gone.err")"
grep -q "200 dropped" "$tmp/gone.err" || fail "gone drops: $(cat "$tmp/gone.err")"
echo "ok"
