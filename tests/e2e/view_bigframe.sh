#!/usr/bin/env bash
# A frame of over 100 KB reaches the terminal whole: the viewer runs in a
# 400x320 tmux window on 300 rows, and every row must be on the screen.
# (libuv leaves the terminal non-blocking; frames once went through stdio,
# which lost everything after the first EAGAIN: only ~20 rows arrived.)
set -euo pipefail
BIN=$(cd "$(dirname "${SPANLINE_BIN:-bin/spanline}")" && pwd)/$(basename "${SPANLINE_BIN:-bin/spanline}")
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
sock="spanline-big-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

lua5.4 - "$tmp/rows.jsonl" <<'LUA'
local out = assert(io.open(arg[1], "w"))
local t0 = 1764000000000000000
local function id(i) return string.format("%032x", i) end
out:write(string.format('{"type":"start","id":"%s","trace":"%s","name":"root","ts":%d,"lane":1}\n', id(1), id(1), t0))
for i = 2, 300 do
  out:write(string.format('{"type":"start","id":"%s","trace":"%s","parent":"%s","name":"row-%04d-%s","ts":%d,"lane":1}\n',
    id(i), id(1), id(1), i, string.rep("x", 40), t0 + i * 1000))
  out:write(string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}\n', id(i), t0 + i * 1000 + 500))
end
out:write(string.format('{"type":"end","id":"%s","ts":%d,"status":"ok"}\n', id(1), t0 + 600000))
out:close()
LUA

tmux -L "$sock" new-session -d -x 400 -y 320 -s big \
  "LUA_PATH='$LUA_PATH' LUA_CPATH='$LUA_CPATH' lua5.4 '$BIN' view '$tmp/rows.jsonl' 2>'$tmp/err'; sleep 30"
missing=300
for _ in $(seq 1 50); do
  tmux -L "$sock" capture-pane -p -t big > "$tmp/screen"
  rows=$( (grep -o 'row-[0-9][0-9][0-9][0-9]' "$tmp/screen" || true) | sort -u | wc -l)
  missing=$((299 - rows))
  [ "$missing" -eq 0 ] && break
  sleep 0.1
done
tmux -L "$sock" send-keys -t big q
if [ "$missing" -ne 0 ]; then
  echo "FAIL: $missing of 299 rows never reached the terminal" >&2
  head -c 2000 "$tmp/screen" >&2; cat "$tmp/err" >&2
  exit 1
fi
echo "ok: a $(wc -c < "$tmp/screen")-byte screen of 300 rows arrived whole"
