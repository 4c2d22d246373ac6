#!/usr/bin/env bash
# soak_short.sh: the soak benchmark (tests/bench/soak.lua) cut down to 2e6
# spans: resident memory after warm-up stays within 4 MiB of what it was,
# and nothing is dropped on the way to /dev/null. No timing is asserted.
# Skipped (77) under AddressSanitizer, whose quarantine makes RSS meaningless.
set -uo pipefail

src=${SPANLINE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
case "${LD_PRELOAD:-}" in *asan*) echo "SKIP: RSS under ASan"; exit 77 ;; esac
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$(lua5.4 "$src/tests/bench/soak.lua" 2000000 20) || fail "soak.lua: $out"
line=$(grep '^bench soak ' <<<"$out") || fail "no summary: $out"
get() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$line"; }
growth=$(get growth_kb)
dropped=$(get dropped)
[ "$growth" -le 4096 ] || fail "RSS grew by $growth KiB after warm-up: $line"
[ "$dropped" -eq 0 ] || fail "dropped $dropped records: $line"
echo "ok: $line"
