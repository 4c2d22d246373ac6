#!/usr/bin/env bash
# `spanline filter`: the records of matching spans as a valid spanline
# stream (meta first, raw lines passed through), span fields the C
# assembler computes (depth, orphan, self, remote parents, late children,
# linked children), js-logger input is re-encoded, errors are one line.
set -euo pipefail
bin=${SPANLINE_BIN:-bin/spanline}
fix=${SPANLINE_FIXTURES:-tests/fixtures}
run() { lua5.4 "$bin" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run filter "$fix/query_basic.jsonl" --where 'name == "db.query" and dur >= 4ms' >"$tmp/out.jsonl"
head -1 "$tmp/out.jsonl" | grep -q '"type":"meta","format":"spanline/1","pid":7' || fail "meta first: $(head -1 "$tmp/out.jsonl")"
# spans 2, 3 and 7: a start and an end each, lines byte-identical to the input
[ "$(wc -l <"$tmp/out.jsonl")" = 7 ] || fail "lines: $(cat "$tmp/out.jsonl")"
tail -n +2 "$tmp/out.jsonl" | while IFS= read -r line; do
  grep -qxF "$line" "$fix/query_basic.jsonl" || fail "line not passed through: $line"
done
ids=$(grep -o '"id":"[0-9a-f]*"' "$tmp/out.jsonl" | sort -u | tr -d '\n')
[ "$ids" = '"id":"00000000000000000000000000000002""id":"00000000000000000000000000000003""id":"00000000000000000000000000000007"' ] || fail "ids: $ids"

# the output is itself a readable stream with the same answer
n=$(run report "$tmp/out.jsonl" --format json | jq '.[0].count')
[ "$n" = 3 ] || fail "re-read count $n"

# event and attr records travel with their span
run filter "$fix/query_basic.jsonl" --where 'id == "00000000000000000000000000000006"' >"$tmp/six.jsonl"
grep -q '"type":"event"' "$tmp/six.jsonl" && grep -q '"type":"attr"' "$tmp/six.jsonl" || fail "event/attr: $(cat "$tmp/six.jsonl")"

run filter "$fix/query_basic.jsonl" --where 'status ~= "ok"' >"$tmp/notok"
[ "$(grep -c '"type":"start"' "$tmp/notok")" = 3 ] || fail "error+abandoned+open: $(cat "$tmp/notok")"
run filter "$fix/query_basic.jsonl" --where '#events > 0' | grep -c '"type":"start"' | grep -qx 1 || fail "events field"
# children handed out before their parent are linked to it (11's child
# ended before 11 started: an orphan when handed out)
kids=$(run filter "$fix/query_basic.jsonl" --where '#children > 0' | grep '"type":"start"' | grep -o '"id":"[0-9a-f]*"' | tr -d '\n')
[ "$kids" = '"id":"00000000000000000000000000000003""id":"00000000000000000000000000000001""id":"00000000000000000000000000000006"' ] || fail "children field: $kids"

# remote (16-hex W3C) parents: "handler" links under the span whose id
# ends with its parent's digits (so db.query is at depth 2); "lost"
# (unknown tail) stays an orphan
rf="$fix/query_remote.jsonl"
names() { run filter "$rf" --where "$1" | grep '"type":"start"' | grep -o '"name":"[^"]*"' | tr -d '\n'; }
[ "$(names 'depth > 0')" = '"name":"db.query""name":"handler"' ] || fail "remote depth: $(names 'depth > 0')"
[ "$(names 'depth == 2')" = '"name":"db.query"' ] || fail "remote depth 2: $(names 'depth == 2')"
[ "$(names 'orphan')" = '"name":"lost"' ] || fail "remote orphan: $(names 'orphan')"
[ "$(names 'self == 5ms')" = '"name":"server"' ] || fail "remote self: $(names 'self == 5ms')"
[ "$(names 'not orphan and remote_parent')" = '"name":"handler"' ] || fail "remote linked: $(names 'not orphan and remote_parent')"

# a child starting after its parent ended: linked while a sibling is still
# open (the parent is still known), an orphan once the parent and all its
# children ended
lf="$fix/query_late.jsonl"
lnames() { run filter "$lf" --where "$1" | grep '"type":"start"' | grep -o '"name":"[^"]*"' | tr -d '\n'; }
[ "$(lnames 'true' | grep -o name | wc -l)" = 5 ] || fail "late: every span: $(lnames 'true')"
[ "$(lnames 'depth == 1')" = '"name":"late""name":"worker"' ] || fail "late depth: $(lnames 'depth == 1')"
[ "$(lnames 'depth == 2')" = '"name":"late.remote"' ] || fail "late remote: $(lnames 'depth == 2')"
[ "$(lnames 'orphan')" = '"name":"forgotten"' ] || fail "forgotten: $(lnames 'orphan')"

# js-logger input comes out as spanline/1 records
run filter "$fix/js-logger/js-quic.jsonl" --where 'name:find("Stream")' >"$tmp/js.jsonl"
[ "$(grep -c '"type":"start"' "$tmp/js.jsonl")" = 4 ] || fail "js-quic streams: $(cat "$tmp/js.jsonl")"
grep -q '"startId"' "$tmp/js.jsonl" && fail "js-logger record passed raw"
run report "$tmp/js.jsonl" --format csv | grep -q '^cd-QUICStream,4,' || fail "re-encoded stream unreadable"

# MessagePack input comes out as JSONL
lua5.4 - "$tmp/in.msgpack" <<'LUA'
local function str(x) return string.char(0xa0 + #x) .. x end
local id = string.rep("\0", 15) .. "\1"
local meta = "\x82" .. str("type") .. str("meta") .. str("format") .. str("spanline/1")
local start = "\x85" .. str("type") .. str("start") .. str("id") .. "\xc4\x10" .. id .. str("name") .. str("m")
  .. str("ts") .. "\xcf" .. string.pack(">I8", 1764000000000000001) .. str("attrs") .. "\x81" .. str("k") .. "\x2a"
local stop = "\x84" .. str("type") .. str("end") .. str("id") .. "\xc4\x10" .. id .. str("ts") .. "\xcf"
  .. string.pack(">I8", 1764000000000000009) .. str("status") .. str("ok")
assert(io.open(arg[1], "wb")):write(meta .. start .. stop)
LUA
mp=$(run filter "$tmp/in.msgpack" --where 'dur == 8 and attrs.k == 42')
want='{"type":"meta","format":"spanline/1"}
{"type":"start","id":"00000000000000000000000000000001","name":"m","ts":1764000000000000001,"attrs":{"k":42}}
{"type":"end","id":"00000000000000000000000000000001","ts":1764000000000000009,"status":"ok"}'
[ "$mp" = "$want" ] || fail "msgpack filter: $mp"

# units, sandbox, errors
run filter "$fix/query_pct.jsonl" --where 'dur >= 9ms and dur < 0.011s' | grep -c '"type":"end"' | grep -qx 2 || fail "units"
set +e
e=$(run filter "$fix/query_basic.jsonl" --where 'os.exit(0)' 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 2 ] && grep -q "'os' is not available in an expression" <<<"$e" || fail "sandbox: $code $e"
# a mistyped field: exit 2 before reading, naming the fields there are
set +e
e=$(run filter "$fix/query_basic.jsonl" --where 'durr > 5ms' 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 2 ] && grep -q "unknown field 'durr' (did you mean 'dur'?); span fields: id trace parent name" <<<"$e" \
  || fail "unknown field: $code $e"
set +e
e=$(run filter "$fix/query_basic.jsonl" --where 'name ==' 2>&1); code=$?
set -e
[ "$code" = 2 ] && grep -q "bad --where expression" <<<"$e" || fail "syntax: $code $e"
set +e
e=$(run filter "$fix/query_garbage.txt" --where 'true' 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 1 ] && grep -q "no span records" <<<"$e" || fail "garbage: $code $e"
if grep -q traceback <<<"$e"; then fail "traceback: $e"; fi
echo "filter_cli ok"
