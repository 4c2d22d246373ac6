#!/usr/bin/env bash
# cli_habits.sh: what every reading command answers alike. A --where naming
# an unknown field exits 2 before reading, naming the fields; a file with
# only a meta record and an empty file get the same message and exit code
# (tree, report, filter, view --plain, export); a missing file is named
# once ("cannot open F: No such file or directory"); progress shows on
# stderr when it is a terminal (a pty: support/in_pty.py) and never in a pipe.
set -uo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
spanline() { timeout 120 lua5.4 "$bin" "$@"; }

# --- an unknown field in --where
for cmd in report filter; do
  spanline $cmd "$fixtures/query_basic.jsonl" --where 'durr > 5ms' >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] || fail "$cmd --where durr: exit $rc"
  grep -q "^spanline $cmd: bad --where expression: unknown field 'durr' (did you mean 'dur'?); span fields: id trace parent name start finish dur status error attrs" "$tmp/err" \
    || fail "$cmd --where durr: $(cat "$tmp/err")"
  grep -q '^  durr > 5ms$' "$tmp/err" || fail "$cmd: the expression is not shown: $(cat "$tmp/err")"
done
# fields, attributes, sandbox libraries and names an expression declares pass
spanline report "$fixtures/query_basic.jsonl" \
  --where 'attrs.k ~= nil or string.find(name, "db") or (function(x) return x end)(dur) > 0' >/dev/null 2>"$tmp/err" \
  || fail "a good expression was refused: $(cat "$tmp/err")"

# --- a meta-only file and an empty file: one answer
printf '{"type":"meta","format":"spanline/1","pid":1,"service":"x"}\n' > "$tmp/meta.jsonl"
: > "$tmp/empty.jsonl"
for cmd in tree report "filter --where true" "view --plain" "export --to html" "export --to chrome" \
           "export --to otlp-json"; do
  for f in meta empty; do
    # shellcheck disable=SC2086
    spanline $cmd "$tmp/$f.jsonl" > "$tmp/$f.out" 2> "$tmp/$f.err"
    echo $? > "$tmp/$f.rc"
  done
  [ "$(cat "$tmp/meta.rc")" = 1 ] || fail "$cmd on a meta-only file: exit $(cat "$tmp/meta.rc")"
  [ "$(cat "$tmp/empty.rc")" = 1 ] || fail "$cmd on an empty file: exit $(cat "$tmp/empty.rc")"
  [ "$(sed "s/meta\.jsonl/F/" "$tmp/meta.err")" = "$(sed "s/empty\.jsonl/F/" "$tmp/empty.err")" ] \
    || fail "$cmd: '$(cat "$tmp/meta.err")' against '$(cat "$tmp/empty.err")'"
  grep -q "empty.jsonl: no span records$" "$tmp/empty.err" || fail "$cmd: $(cat "$tmp/empty.err")"
  [ ! -s "$tmp/meta.out" ] || fail "$cmd printed for a meta-only file"
  [ ! -s "$tmp/empty.out" ] || fail "$cmd printed for an empty file"
done
# -o leaves no file for a stream without spans
spanline export "$tmp/empty.jsonl" --to html -o "$tmp/page.html" 2>/dev/null
[ ! -e "$tmp/page.html" ] || fail "export -o wrote a page for an empty file"

# --- a missing file, named once
for cmd in tree report "filter --where true" "view --plain" "export --to html"; do
  # shellcheck disable=SC2086
  spanline $cmd "$tmp/nosuch.jsonl" >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 1 ] || fail "$cmd on a missing file: exit $rc"
  name=${cmd%% *}
  [ "$(cat "$tmp/err")" = "spanline $name: cannot open $tmp/nosuch.jsonl: No such file or directory" ] \
    || fail "$cmd on a missing file: $(cat "$tmp/err")"
done

# --- progress: on a terminal only (SPANLINE_PROGRESS_AFTER=0: from the
# start, so a small file shows it too)
command -v python3 >/dev/null || { echo "python3 not installed: progress not tested"; exit 77; }
export SPANLINE_PROGRESS_AFTER=0
in_pty() {  # in_pty LOG COMMAND: runs COMMAND with a pty as its terminal
  local log=$1; shift
  python3 "$(dirname "$0")/support/in_pty.py" "$log" "$*"
}
f=$fixtures/query_basic.jsonl
size=$(stat -c %s "$f")
size_text=$(awk -v n="$size" 'BEGIN { printf "%.1f kB", n / 1000 }')   # 1-10 kB: one decimal
[ "$size" -ge 1000 ] && [ "$size" -lt 10000 ] || fail "the fixture's size left 1-10 kB: $size"
cmds=("report $f" "tree $f" "filter $f --where true" "export $f --to html")
for c in "${cmds[@]}"; do
  in_pty "$tmp/pty.log" "lua5.4 '$bin' $c > '$tmp/stdout'" || fail "$c in a pty"
  tr '\r\033' 'RE' < "$tmp/pty.log" > "$tmp/pty.txt"
  # (bytes read so far: 0 when the first redraw came before the reading)
  grep -Eq "RE\[Kreading $f: [0-9.]+ k?B of $size_text" "$tmp/pty.txt" \
    || fail "$c: no progress: $(cat "$tmp/pty.txt")"
  # the line is cleared when reading ends (the last thing on the terminal)
  grep -q 'RE\[K$' "$tmp/pty.txt" || fail "$c: progress line not cleared: $(cat "$tmp/pty.txt")"
  [ -s "$tmp/stdout" ] || fail "$c: no output"
  # a pipe: never
  spanline $c >/dev/null 2>"$tmp/err" || fail "$c in a pipe"
  ! grep -q reading "$tmp/err" || fail "$c: progress written to a pipe: $(cat "$tmp/err")"
done
# stdin: a file redirected in has an offset to show, a pipe has none
in_pty "$tmp/pty.log" "lua5.4 '$bin' report - < '$f' > '$tmp/stdout'" || fail "report - < file"
grep -q "reading -: " "$tmp/pty.log" || fail "report - < file: no progress: $(cat "$tmp/pty.log")"
in_pty "$tmp/pty.log" "cat '$f' | lua5.4 '$bin' report - > '$tmp/stdout'" || fail "cat | report -"
! grep -q "reading" "$tmp/pty.log" || fail "report from a pipe drew progress: $(cat "$tmp/pty.log")"
grep -q "^db.query " "$tmp/stdout" || fail "report from a pipe: $(cat "$tmp/stdout")"
# a command printing as it reads, with stdout on the terminal: no redraws
# tearing its lines; report prints at the end, so it shows progress
in_pty "$tmp/pty.log" "lua5.4 '$bin' filter $f --where true" || fail "filter to a pty"
! grep -q "reading" "$tmp/pty.log" || fail "filter drew progress over its own output"
in_pty "$tmp/pty.log" "lua5.4 '$bin' report $f" || fail "report to a pty"
grep -q "reading" "$tmp/pty.log" || fail "report to a terminal: no progress"
grep -q "name  *count  *errors" "$tmp/pty.log" || fail "report to a terminal: no table"
echo ok
