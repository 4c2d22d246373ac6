#!/usr/bin/env bash
# bench_instrument_luacheck.sh: what tracing costs a real, call-heavy program:
# luacheck (Debian's lua-check) over Penlight's and its own sources, run
# plain, under `spanline run` without instrumentation, and with every
# luacheck function traced in hook mode (default) and in wrap mode.
#
# Usage: tests/bench/bench_instrument_luacheck.sh [ROUNDS]  (LUA_PATH /
# LUA_CPATH as for the tests). Prints one line per case:
#   bench luacheck.<case> cpu_s=<best user+sys of the process, writer thread
#     included> ratio=<over plain> spans=<spans written>
# Best of ROUNDS (default 5). BENCH_CALLGRIND=1 counts instructions instead
# (valgrind --tool=callgrind, all threads; deterministic, about 50x slower;
# Penlight's sources only): Ir=<instructions> ratio=<over plain>.
# Exits 77 when luacheck is not installed.
set -euo pipefail

src=${SPANLINE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SPANLINE_BIN:-$src/bin/spanline}
rounds=${1:-5}
lc=/usr/share/lua/5.1/luacheck
[ -f "$lc/main.lua" ] || { echo "bench_instrument_luacheck: lua-check not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LUA_PATH="/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;${LUA_PATH:-;}"
echo 'require "luacheck.main"' >"$tmp/luacheck.lua"
files=(/usr/share/lua/5.1/pl "$lc")
if [ -n "${BENCH_CALLGRIND:-}" ]; then files=(/usr/share/lua/5.1/pl); fi

# best CPU seconds (user + sys) of the command over the rounds, or with
# BENCH_CALLGRIND its instruction count
best_cpu() {
  if [ -n "${BENCH_CALLGRIND:-}" ]; then
    { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null || true; } \
      | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    return
  fi
  local best="" t
  for _ in $(seq "$rounds"); do
    /usr/bin/time -f "%U %S" -o "$tmp/time" "$@" >/dev/null 2>&1 || true
    t=$(tail -n1 "$tmp/time" | awk '{ printf "%.3f", $1 + $2 }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

plain=$(best_cpu lua5.4 "$tmp/luacheck.lua" --no-color "${files[@]}")
unit=cpu_s
[ -n "${BENCH_CALLGRIND:-}" ] && unit=Ir
echo "bench luacheck.plain $unit=$plain ratio=1.00 spans=0"
case_() {
  local name=$1; shift
  local t spans
  t=$(best_cpu lua5.4 "$bin" run -o "$tmp/$name.jsonl" "$@" "$tmp/luacheck.lua" --no-color "${files[@]}")
  spans=$(grep -c '"type":"start"' "$tmp/$name.jsonl" || true)
  echo "bench luacheck.$name $unit=$t ratio=$(awk -v a="$t" -v b="$plain" 'BEGIN { printf "%.2f", a / b }') spans=$spans"
}
case_ run_only
case_ hook --instrument 'luacheck.**'
case_ wrap --instrument 'luacheck.**' --wrap
