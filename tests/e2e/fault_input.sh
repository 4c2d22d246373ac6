#!/usr/bin/env bash
# fault_input.sh: endless and hostile input to the reading commands. tree,
# report, filter and view on /dev/zero, on a file that is one 70 MB line,
# and on random bytes end with exit 1 and a message saying the input is not
# a span stream (after the 64 MiB max_garbage limit) instead of reading
# forever; a 20 MB junk line among records is skipped, the records read.
set -uo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
spanline() { timeout 120 lua5.4 "$bin" "$@"; }

head -c 70000000 /dev/zero | tr '\0' x >"$tmp/one-line"
head -c 70000000 /dev/urandom >"$tmp/random"

for input in /dev/zero "$tmp/one-line" "$tmp/random"; do
  for cmd in "tree" "report" "filter --where true" "view --plain"; do
    # shellcheck disable=SC2086
    spanline $cmd "$input" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "$cmd $input: exit $rc, expected 1 ($(cat "$tmp/err"))"
    grep -q "not a span stream" "$tmp/err" || fail "$cmd $input: message: $(cat "$tmp/err")"
  done
done
grep -q "line 1 is longer than 64 MiB" "$tmp/err" && fail "random bytes are many short bad lines"
spanline tree /dev/zero 2>"$tmp/err"
grep -q "^spanline tree: /dev/zero: line 1 is longer than 64 MiB" "$tmp/err" ||
  fail "tree /dev/zero: the message names the file and the line: $(cat "$tmp/err")"

# a long junk line (under the limit) among records: skipped, counted
{
  echo '{"type":"start","id":"0123456789abcdef0123456789abcdef","name":"before","ts":1000}'
  head -c 20000000 /dev/zero | tr '\0' y
  echo
  echo '{"type":"end","id":"0123456789abcdef0123456789abcdef","ts":2000,"status":"ok"}'
} >"$tmp/mixed.jsonl"
spanline tree "$tmp/mixed.jsonl" >"$tmp/out" 2>"$tmp/err" || fail "tree mixed: $(cat "$tmp/err")"
grep -q "before" "$tmp/out" || fail "tree mixed: span missing"
grep -q "skipped 1 bad line" "$tmp/err" || fail "tree mixed: the junk line is not counted"
echo ok
