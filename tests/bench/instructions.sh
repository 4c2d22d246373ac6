#!/usr/bin/env bash
# tests/bench/instructions.sh: instructions per span of each Lua API form,
# whole process (the writer thread included), by callgrind: the difference
# of a run of 150k spans and one of 50k, so start-up and close cancel. The
# stable figure on a noisy machine (times are not). Prints
# `bench instr.FORM per_span=N` lines.
# Usage: tests/bench/instructions.sh [build-dir] [forms...]   (needs valgrind; minutes)
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$here/build}" && pwd) || exit 2
shift || true
forms=("$@")
[ ${#forms[@]} -gt 0 ] || forms=(pair enter table plain traced call)
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind not found" >&2; exit 77; }
export LUA_PATH="$here/lua/?.lua;$here/lua/?/init.lua;;" LUA_CPATH="$build/?.so;;"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {  # count FORM N: total instructions of every thread
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" lua5.4 "$here/tests/bench/span_loops.lua" "$2" "$1" \
    > /dev/null 2> "$tmp/log" || { cat "$tmp/log" >&2; return 1; }
  sed -nE 's/.*Collected : ([0-9]+).*/\1/p' "$tmp/log"
}
for form in "${forms[@]}"; do
  small=$(count "$form" 50000) && big=$(count "$form" 150000) || exit 1
  echo "bench instr.$form per_span=$(( (big - small) / 100000 ))"
done
