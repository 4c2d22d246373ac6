#!/usr/bin/env bash
# The CLI's front door: help, version, unknown commands and options give a
# one-line message and exit 2, never a Lua traceback.
set -euo pipefail
bin=${SPANLINE_BIN:-bin/spanline}
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

version=$(run --version)
grep -Eq '^spanline [0-9]+\.[0-9]+\.[0-9]+$' <<<"$version" || { echo "version: $version"; exit 1; }
echo "cli ok"
