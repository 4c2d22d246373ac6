#!/usr/bin/env bash
# `spanline convert`: JSONL -> MessagePack -> JSONL gives back the tracer's
# own output byte for byte (the core's encoders write both ways), stdin and
# -o work, js-logger input converts, bad lines are reported, misuse exits 2.
set -euo pipefail
bin=${SPANLINE_BIN:-bin/spanline}
fix=${SPANLINE_FIXTURES:-tests/fixtures}
run() { lua5.4 "$bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

lua5.4 examples/shop.lua "$tmp/shop.jsonl" >/dev/null
lua5.4 tests/otlp/trace.lua "$tmp/trace.jsonl"
for f in shop trace; do
  run convert "$tmp/$f.jsonl" --to msgpack -o "$tmp/$f.msgpack"
  [ "$(head -c 1 "$tmp/$f.msgpack" | od -An -tx1 | tr -d ' ')" != 7b ] || fail "$f: not msgpack"
  run convert "$tmp/$f.msgpack" --to jsonl >"$tmp/$f.back.jsonl"
  cmp "$tmp/$f.jsonl" "$tmp/$f.back.jsonl" || fail "$f: jsonl -> msgpack -> jsonl changed the bytes"
  run convert - --to msgpack <"$tmp/$f.jsonl" | cmp - "$tmp/$f.msgpack" || fail "$f: stdin differs"
done
# the same records as the reader sees them
[ "$(run tree "$tmp/shop.msgpack" | md5sum)" = "$(run tree "$tmp/shop.jsonl" | md5sum)" ] || fail "tree differs"

# js-logger: readable afterwards as spanline/1 records, same spans
run convert "$fix/js-logger/js-quic.jsonl" --to jsonl -o "$tmp/quic.jsonl"
head -c 40 "$tmp/quic.jsonl" | grep -q '"type"' || fail "js-logger not converted"
[ "$(run report "$tmp/quic.jsonl" --format csv | md5sum)" = "$(run report "$fix/js-logger/js-quic.jsonl" --format csv | md5sum)" ] ||
  fail "js-logger report differs after convert"

# bad lines: skipped and reported
{ head -n 2 "$tmp/shop.jsonl"; echo 'not json'; tail -n +3 "$tmp/shop.jsonl"; } >"$tmp/bad.jsonl"
err=$(run convert "$tmp/bad.jsonl" --to jsonl 2>&1 >"$tmp/bad.out") || fail "bad line failed the run"
grep -q "skipped 1 unreadable line (first at line 3)" <<<"$err" || fail "bad line note: $err"
cmp "$tmp/shop.jsonl" "$tmp/bad.out" || fail "bad line changed the rest"

set +e
run convert "$tmp/shop.jsonl" --to yaml >/dev/null 2>"$tmp/err"; st=$?
set -e
[ "$st" = 2 ] || fail "bad --to exit $st"
run convert /nonexistent --to jsonl 2>"$tmp/err" && fail "missing file accepted"
grep -q "cannot read" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"
echo "ok"
