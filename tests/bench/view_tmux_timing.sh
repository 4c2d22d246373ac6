#!/usr/bin/env bash
# view_tmux_timing.sh: the interactive viewer timed in a real terminal (tmux,
# screen polled every 5-10 ms): how long a big file takes to show its first
# screen, and how long a record appended to a followed file takes to show.
# usage: bash tests/bench/view_tmux_timing.sh [BIG.jsonl]   (env as for the tests;
#        make BIG.jsonl with: lua5.4 tests/bench/gen_view.lua BIG.jsonl 1000000)
set -euo pipefail
BIN=${SPANLINE_BIN:-bin/spanline}
FIX=${SPANLINE_FIXTURES:-tests/fixtures}
tmp=$(mktemp -d); sock="spanline-timing-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT
run() { tmux -L "$sock" new-session -d -x 120 -y 40 \
  "env LUA_PATH='$LUA_PATH' LUA_CPATH='$LUA_CPATH' lua5.4 '$BIN' view $*; sleep 30"; }
shown() { tmux -L "$sock" capture-pane -p | grep -q -- "$1"; }

if [ $# -ge 1 ]; then
  for i in 1 2 3; do
    s=$(date +%s%N)
    run "'$1'"
    until shown '^\[logical, bars per trace\] [1-9]'; do sleep 0.01; done
    echo "first screen of $1: $(( ($(date +%s%N) - s) / 1000000 )) ms"
    tmux -L "$sock" kill-server; sleep 0.5
  done
fi

cp "$FIX/view_basic.jsonl" "$tmp/f.jsonl"
run "'$tmp/f.jsonl' --follow"
until shown following; do sleep 0.05; done
for i in $(seq 1 10); do
  s=$(date +%s%N)
  printf '{"type":"start","id":"%032x","trace":"%032x","name":"lat.%d","ts":%s,"lane":1}\n' \
    $((900 + i)) $((900 + i)) "$i" "$s" >> "$tmp/f.jsonl"
  until shown "lat\.$i "; do sleep 0.005; done
  echo "append $i -> on screen: $(( ($(date +%s%N) - s) / 1000000 )) ms"
  sleep 0.33
done
tmux -L "$sock" send-keys q
