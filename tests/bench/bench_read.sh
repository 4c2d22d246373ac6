#!/usr/bin/env bash
# bench_read.sh: reading throughput of `spanline filter` against jq and a
# plain lua-cjson line loop on the same generated stream, plus the peak
# memory of `spanline report` over it. Prints `bench ...` lines.
#
# The stream (tests/bench/gen_stream.lua) is SIZE_MB megabytes (default
# 1024) in /tmp, reused when present. The predicate selects the failed
# db.query spans. jq and the cjson loop see records, not spans, so they
# select the end records with status "error" -- the same scan-and-parse work
# over every line; spanline also assembles every span (start+events+end)
# and writes each matching span's records.
# usage: SIZE_MB=256 BUILD=build tests/bench/bench_read.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
size=${SIZE_MB:-1024}
file=${BENCH_FILE:-/tmp/spanline_bench_${size}mb.jsonl}
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;"
export LUA_CPATH="$build/?.so;;"
[ -f "$build/spanline/core.so" ] || { echo "build the Lua module first ($build/spanline/core.so)"; exit 1; }

if [ ! -s "$file" ]; then
  echo "generating $file ($size MB)..." >&2
  lua5.4 "$root/tests/bench/gen_stream.lua" "$file.tmp" "$size"
  mv "$file.tmp" "$file"
fi
bytes=$(stat -c %s "$file")
records=$(wc -l <"$file")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "stream: $file  $mb MB  $records records" >&2

cat "$file" >/dev/null  # warm the page cache so every contender reads from memory

# Wall seconds and CPU seconds (user + sys) of one command; the machine may
# be shared, so both are printed (MB/s from wall time; cpu_mb_per_s from CPU).
measure() {  # measure OUT CMD... -> sets WALL CPU
  local out=$1 timing
  shift
  TIMEFORMAT='%R %U %S'
  timing=$( { time "$@" >"$out" 2>/dev/null; } 2>&1 )
  WALL=$(awk '{ print $1 }' <<<"$timing")
  CPU=$(awk '{ print $2 + $3 }' <<<"$timing")
}
rate() {
  awk -v b="$bytes" -v r="$records" -v t="$1" -v c="$2" 'BEGIN {
    printf "mb_per_s=%.0f records_per_s=%.0f seconds=%.2f cpu_mb_per_s=%.0f cpu_seconds=%.2f",
      b / 1048576 / t, r / t, t, b / 1048576 / c, c }'
}

where='status == "error" and name == "db.query"'

if [ -x "$build/bench/bench_reader" ]; then
  "$build/bench/bench_reader" "$file"   # the C reader alone, in memory, best CPU time
fi

measure /tmp/spanline_bench_filter.out lua5.4 "$root/bin/spanline" filter "$file" --where "$where"
t_filter=$WALL c_filter=$CPU
echo "bench read.filter $(rate "$WALL" "$CPU") matched_lines=$(wc -l </tmp/spanline_bench_filter.out)"

measure /tmp/spanline_bench_jq.out jq -c 'select(.type == "end" and .status == "error")' "$file"
t_jq=$WALL c_jq=$CPU
echo "bench read.jq $(rate "$WALL" "$CPU") matched_lines=$(wc -l </tmp/spanline_bench_jq.out)"

cjson_loop=$(mktemp)
cat >"$cjson_loop" <<'LUA'
local decode = require("cjson.safe").decode
local out = io.stdout
for line in io.lines(arg[1]) do
  local r = decode(line)
  if r and r.type == "end" and r.status == "error" then out:write(line, "\n") end
end
LUA
measure /tmp/spanline_bench_cjson.out lua5.4 "$cjson_loop" "$file"
rm -f "$cjson_loop"
t_cjson=$WALL c_cjson=$CPU
echo "bench read.cjson_loop $(rate "$WALL" "$CPU") matched_lines=$(wc -l </tmp/spanline_bench_cjson.out)"

awk -v f="$t_filter" -v j="$t_jq" -v c="$t_cjson" -v cf="$c_filter" -v cj="$c_jq" -v cc="$c_cjson" \
  'BEGIN { printf "bench read.ratio filter_vs_jq=%.1fx filter_vs_cjson_loop=%.1fx cpu_filter_vs_jq=%.1fx cpu_filter_vs_cjson_loop=%.1fx\n", j / f, c / f, cj / cf, cc / cf }'

# Peak memory: the command runs in-process and reads its own VmHWM at exit.
peak() {
  lua5.4 - "$@" 2>&1 >/dev/null <<'LUA' | awk '/^VmHWM/ { print $2 }'
local code = require("spanline.cli").main({ ... })
io.stdout:flush()
local st = io.open("/proc/self/status"):read("a")
io.stderr:write("VmHWM ", st:match("VmHWM:%s*(%d+)"), "\n")
os.exit(code)
LUA
}
measure /tmp/spanline_bench_report.out lua5.4 "$root/bin/spanline" report "$file"
echo "bench read.report $(rate "$WALL" "$CPU")"
kb=$(peak report "$file")
echo "bench read.report_memory peak_rss_mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
kb=$(peak filter "$file" --where "$where")
echo "bench read.filter_memory peak_rss_mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
