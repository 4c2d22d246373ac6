#!/usr/bin/env bash
# fault_where.sh: hostile --where expressions against report and filter
# (both the C span stream and the Lua assembler path). Rewriting
# string.format inside an expression does not change what report prints;
# an endless loop and a memory-eating expression end with exit 2 and a
# message naming the expression (1 s of CPU / 64 MiB per span by default,
# SPANLINE_WHERE_CPU / SPANLINE_WHERE_MEMORY).
set -uo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
spanline() { timeout 60 lua5.4 "$bin" "$@"; }
file=$fixtures/query_basic.jsonl

# the host's libraries are out of reach
spanline report "$file" --where 'true' >"$tmp/plain" || fail "report"
for lib in 'string.format = function() return "X" end' 'string.rep = nil' 'table.concat = nil' \
           'math.floor = function() return 0 end'; do
  spanline report "$file" --where "(function() $lib return true end)()" >"$tmp/after" ||
    fail "report with $lib"
  cmp -s "$tmp/plain" "$tmp/after" || fail "report output changed by: $lib"
  SPANLINE_NO_FAST=1 spanline report "$file" --where "(function() $lib return true end)()" >"$tmp/after" ||
    fail "report (Lua path) with $lib"
  cmp -s "$tmp/plain" "$tmp/after" || fail "report output (Lua path) changed by: $lib"
done

# budgets: exit 2 and a message naming the expression
check_limit() {  # expression, expected message part [environment...]
  local expr=$1 want=$2
  shift 2
  for fast in "" 1; do
    for cmd in report filter; do
      env SPANLINE_NO_FAST=$fast "$@" timeout 60 lua5.4 "$bin" "$cmd" "$file" --where "$expr" >/dev/null 2>"$tmp/err"
      rc=$?
      [ $rc -eq 2 ] || fail "$cmd --where '$expr' (fast=$fast): exit $rc, expected 2 ($(cat "$tmp/err"))"
      grep -qF -- "--where '$expr' gave up" "$tmp/err" || fail "$cmd: message: $(cat "$tmp/err")"
      grep -qF -- "$want" "$tmp/err" || fail "$cmd: message: $(cat "$tmp/err")"
    done
  done
}
check_limit '(function() while true do end end)()' 'more than 1 s of CPU on one span'
check_limit '(function() while true do end end)()' 'more than 0.3 s of CPU on one span' SPANLINE_WHERE_CPU=0.3
# memory: a generous CPU budget, so a slow machine (or ASan) cannot end them on time first
check_limit '(function() local t = {} while true do t[#t + 1] = {} end end)()' \
  'more than 8 MiB of memory on one span' SPANLINE_WHERE_MEMORY=8 SPANLINE_WHERE_CPU=60
check_limit '#("x"):rep(2^30) > 0' 'more than 64 MiB of memory on one span' SPANLINE_WHERE_CPU=60

# an ordinary error is still only "no match"
spanline filter "$file" --where 'nil + 1' >/dev/null 2>"$tmp/err" || fail "filter with a failing expression"
grep -q "counted as no match" "$tmp/err" || fail "filter: $(cat "$tmp/err")"
echo ok
