#!/usr/bin/env bash
# `spanline export --to otlp-json|otlp-proto`: the same small trace encoded by
# spanline and by the OpenTelemetry JS SDK (its own OTLP serialisers, from
# npm: tests/otlp), compared field by field after decoding both protobufs
# with the generated definitions in @opentelemetry/otlp-transformer.
# Needs node and `npm ci --prefix tests/otlp` (exit 77 without them).
set -euo pipefail
. tests/otlp/e2e_env.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

lua5.4 tests/otlp/trace.lua "$tmp/trace.jsonl"
run export "$tmp/trace.jsonl" --to otlp-json -o "$tmp/trace.json"
run export "$tmp/trace.jsonl" --to otlp-proto -o "$tmp/trace.pb"
node tests/otlp/compare.js "$tmp/trace.jsonl" "$tmp/trace.json" "$tmp/trace.pb" || fail "spanline and the JS SDK differ"

# batches: several requests per file, every span once (3 spans per request)
run export "$tmp/trace.jsonl" --to otlp-json --batch 3 -o "$tmp/b.json" 2>/dev/null || true
lines=$(wc -l <"$tmp/b.json")
[ "$lines" -ge 2 ] || fail "expected several requests, got $lines lines"
node tests/otlp/compare.js "$tmp/trace.jsonl" "$tmp/b.json" "$tmp/trace.pb" >/dev/null || fail "batched JSON differs"

# open spans: only with --include-open, marked spanline.open, ended at the last timestamp
head -n 3 "$tmp/trace.jsonl" >"$tmp/open.jsonl"   # meta, checkout start, db.query start
run export "$tmp/open.jsonl" --to otlp-json -o "$tmp/none.json"
[ ! -s "$tmp/none.json" ] || fail "open spans exported without --include-open: $(cat "$tmp/none.json")"
run export "$tmp/open.jsonl" --to otlp-json --include-open -o "$tmp/open.json"
grep -q '"key":"spanline.open","value":{"boolValue":true}' "$tmp/open.json" || fail "no spanline.open: $(cat "$tmp/open.json")"
[ "$(grep -o '"spanId"' "$tmp/open.json" | wc -l)" = 2 ] || fail "open spans: $(cat "$tmp/open.json")"
echo "ok"
