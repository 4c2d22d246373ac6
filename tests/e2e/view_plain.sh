#!/usr/bin/env bash
# spanline view --plain: golden output of both modes on fixtures (nested,
# open, error, abandoned, orphan and remote-parent spans; time buckets), the
# fallback to plain when stdout is not a terminal, --trace, and bad input.
set -euo pipefail
BIN=${SPANLINE_BIN:-bin/spanline}
FIX=${SPANLINE_FIXTURES:-tests/fixtures}
view() { lua5.4 "$BIN" view "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

golden() {  # golden NAME ARGS...
  local name=$1; shift
  view "$@" > "$tmp/$name.out" || fail "$name: exit $?"
  diff -u "$FIX/$name.golden" "$tmp/$name.out" || fail "$name differs from its golden file"
}
golden view_basic_logical "$FIX/view_basic.jsonl" --plain
golden view_basic_time "$FIX/view_basic.jsonl" --plain --sample 5ms
golden view_buckets_time "$FIX/view_buckets.jsonl" --plain --sample 1s
golden view_buckets_logical "$FIX/view_buckets.jsonl" --plain --width 80
# columns shared out by content (a long error keeps its words at 160
# columns; dotted names keep their last parts at 80) and the global scale
golden view_columns_80 "$FIX/view_columns.jsonl" --plain --width 80
golden view_columns_160 "$FIX/view_columns.jsonl" --plain --width 160
golden view_columns_global "$FIX/view_columns.jsonl" --plain --width 120 --scale global

# not a terminal: plain without asking (stdout is a pipe here)
view "$FIX/view_basic.jsonl" | cmp -s - "$FIX/view_basic_logical.golden" || fail "no plain fallback on a pipe"
# --sample logical is the default mode
view "$FIX/view_basic.jsonl" --sample logical | cmp -s - "$FIX/view_basic_logical.golden" || fail "--sample logical"

# --trace keeps one trace (by id prefix)
out=$(view "$FIX/view_basic.jsonl" --plain --trace b0000000)
grep -q '^\[logical, bars per trace\] 2 spans, 1 trace' <<<"$out" || fail "--trace summary: $out"
grep -q '^remote.handler' <<<"$out" || fail "--trace root"
! grep -q 'checkout' <<<"$out" || fail "--trace let another trace through"

# the js-logger streams this project grew from
out=$(view "$FIX/js-logger/polykey-cli-agent-start.jsonl" --plain)
grep -q '^\[logical, bars per trace\] 759 spans' <<<"$out" || fail "js-logger summary: $(head -1 <<<"$out")"
grep -q '^polykeyRoot' <<<"$out" || fail "js-logger root"

# a parent cycle cut by the assembler is labelled as such, not "not seen"
out=$(view "$FIX/query_cycle.jsonl" --plain)
[ "$(grep -c '\[parent cycle cut\]' <<<"$out")" -eq 2 ] || fail "cycle labels: $out"
grep -q '^└─ b ' <<<"$out" || fail "cycle: b under a: $out"
! grep -q 'not seen' <<<"$out" || fail "cycle shown as a parent not seen: $out"

# a 10^5-deep chain (span i's parent is span i-1): every row printed, the
# guides capped and deep rows marked with their depth, no stack overflow
lua5.4 "$(dirname "$0")/gen_chain.lua" 100000 n > "$tmp/deep.jsonl"
view "$tmp/deep.jsonl" --plain > "$tmp/deep.out" 2> "$tmp/err" || fail "deep chain: exit $?: $(cat "$tmp/err")"
[ "$(wc -l < "$tmp/deep.out")" -eq 100001 ] || fail "deep chain: $(wc -l < "$tmp/deep.out") lines"
head -1 "$tmp/deep.out" | grep -q '^\[logical, bars per trace\] 100000 spans, 1 trace' || fail "deep summary"
sed -n 3p "$tmp/deep.out" | grep -q '^└─ n ' || fail "deep row 2: $(sed -n 3p "$tmp/deep.out")"
tail -1 "$tmp/deep.out" | grep -q '\[depth 99999\] └─ n ' || fail "deep last row: $(tail -1 "$tmp/deep.out")"
[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$tmp/deep.out")" -le 200 ] || fail "deep rows not capped"

# errors: one line on stderr, non-zero exit, no traceback
set +e
view "$tmp/missing.jsonl" --plain 2> "$tmp/err"; rc=$?
set -e
[ $rc -ne 0 ] || fail "missing file exit 0"
grep -q "^spanline view: cannot open" "$tmp/err" || fail "missing file message: $(cat "$tmp/err")"
! grep -q traceback "$tmp/err" || fail "traceback shown"
set +e
view "$FIX/view_basic.jsonl" --sample 5parsecs 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --sample exit $rc"
grep -q "bad duration unit" "$tmp/err" || fail "bad --sample message: $(cat "$tmp/err")"
set +e
view "$FIX/view_basic.jsonl" --scale wide 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --scale exit $rc"
grep -q -- "--scale must be trace or global" "$tmp/err" || fail "bad --scale message: $(cat "$tmp/err")"
printf 'not json\n{garbage\n' > "$tmp/garbage.jsonl"
set +e
view "$tmp/garbage.jsonl" --plain 2> "$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "garbage file exit $rc"
grep -q "garbage.jsonl: no span records (2 bad lines, first at line 1)" "$tmp/err" || fail "garbage message: $(cat "$tmp/err")"
echo "view_plain: ok"
