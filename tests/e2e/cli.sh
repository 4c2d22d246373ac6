#!/usr/bin/env bash
# The CLI's front door: help, version, unknown commands and options give a
# one-line message and exit 2, never a Lua traceback.
set -euo pipefail
bin=$(cd "$(dirname "${SPANLINE_BIN:-bin/spanline}")" && pwd)/$(basename "${SPANLINE_BIN:-bin/spanline}")
run() { lua5.4 "$bin" "$@"; }

out=$(run --help)
grep -q "usage: spanline <command>" <<<"$out" || { echo "no usage in --help: $out"; exit 1; }

set +e
err=$(run frobnicate 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 2 ] || { echo "unknown command exit $code, want 2"; exit 1; }
grep -q "unknown command 'frobnicate'" <<<"$err" || { echo "message: $err"; exit 1; }
if grep -q "stack traceback" <<<"$err"; then echo "traceback leaked: $err"; exit 1; fi

set +e
err=$(run 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 2 ] || { echo "no command exit $code, want 2"; exit 1; }

# integer options are checked the same way by every command
fix=${SPANLINE_FIXTURES:-tests/fixtures}/query_basic.jsonl
check_int() {  # check_int WANT_MESSAGE ARGS...
  local want=$1; shift
  set +e
  local err; err=$(run "$@" 2>&1 >/dev/null); local code=$?
  set -e
  [ "$code" = 2 ] || { echo "$*: exit $code, want 2"; exit 1; }
  grep -qF -- "$want" <<<"$err" || { echo "$*: message '$err', want '$want'"; exit 1; }
}
check_int "spanline report: --top needs an integer >= 1" report "$fix" --top 0
check_int "spanline filter: --limit needs an integer >= 0" filter "$fix" --where 'true' --limit -1
check_int "spanline tree: --depth needs an integer >= 0" tree "$fix" --depth x
run report "$fix" --top 1 >/dev/null

# a mistyped command gets a suggestion; --help works after other arguments
set +e
err=$(run tre "$fix" 2>&1 >/dev/null); code=$?
set -e
[ "$code" = 2 ] || { echo "tre: exit $code, want 2"; exit 1; }
grep -qF "unknown command 'tre'; did you mean 'tree'?" <<<"$err" || { echo "tre: message '$err'"; exit 1; }
help=$(run tree "$fix" --help)
grep -q "usage: spanline tree" <<<"$help" || { echo "tree FILE --help: $help"; exit 1; }
# ... but after `run SCRIPT`, --help belongs to the script
prog=$(mktemp --suffix=.lua)
trap 'rm -f "$prog" "${prog%.lua}".spans.jsonl' EXIT
echo 'print("script got " .. table.concat(arg, " "))' > "$prog"
got=$(cd "$(dirname "$prog")" && run run "$prog" --help 2>/dev/null)
[ "$got" = "script got --help" ] || { echo "run SCRIPT --help: '$got'"; exit 1; }

version=$(run --version)
grep -Eq '^spanline [0-9]+\.[0-9]+\.[0-9]+$' <<<"$version" || { echo "version: $version"; exit 1; }
echo "cli ok"
