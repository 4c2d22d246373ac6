#!/usr/bin/env bash
# The interactive viewer in a real terminal (tmux): draws the tree, moves,
# folds, searches, toggles the time mode, shows records appended while
# following, quits, and leaves the terminal restored (also on SIGTERM).
set -euo pipefail
BIN=$(cd "$(dirname "${SPANLINE_BIN:-bin/spanline}")" && pwd)/$(basename "${SPANLINE_BIN:-bin/spanline}")
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
sock="spanline-view-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "---- screen ----" >&2
  [ -n "${target:-}" ] && tmux -L "$sock" capture-pane -p -t "$target" >&2 || true
  exit 1
}

# A live stream with timestamps from now, so running clocks stay small.
now=$(date +%s%N)
ms=1000000
id() { printf '%032x' "$1"; }
ts() { echo $((now + $1 * ms)); }
{
  echo "{\"type\":\"start\",\"id\":\"$(id 1)\",\"trace\":\"$(id 1)\",\"name\":\"request\",\"ts\":$(ts 0),\"lane\":1,\"attrs\":{\"path\":\"/buy\"}}"
  echo "{\"type\":\"start\",\"id\":\"$(id 2)\",\"trace\":\"$(id 1)\",\"parent\":\"$(id 1)\",\"name\":\"auth\",\"ts\":$(ts 1),\"lane\":1}"
  echo "{\"type\":\"end\",\"id\":\"$(id 2)\",\"ts\":$(ts 3),\"status\":\"ok\"}"
  echo "{\"type\":\"start\",\"id\":\"$(id 3)\",\"trace\":\"$(id 1)\",\"parent\":\"$(id 1)\",\"name\":\"db.load\",\"ts\":$(ts 4),\"lane\":1}"
  echo "{\"type\":\"start\",\"id\":\"$(id 4)\",\"trace\":\"$(id 1)\",\"parent\":\"$(id 3)\",\"name\":\"db.parse\",\"ts\":$(ts 5),\"lane\":1}"
  echo "{\"type\":\"end\",\"id\":\"$(id 4)\",\"ts\":$(ts 6),\"status\":\"ok\"}"
  echo "{\"type\":\"event\",\"id\":\"$(id 3)\",\"name\":\"retry\",\"ts\":$(ts 6),\"attrs\":{\"attempt\":2}}"
  echo "{\"type\":\"end\",\"id\":\"$(id 3)\",\"ts\":$(ts 8),\"status\":\"error\",\"error\":\"timeout\"}"
  for i in 10 11 12 13; do
    echo "{\"type\":\"start\",\"id\":\"$(id $i)\",\"trace\":\"$(id 1)\",\"parent\":\"$(id 1)\",\"name\":\"cache.get\",\"ts\":$(ts $i),\"lane\":2}"
    echo "{\"type\":\"end\",\"id\":\"$(id $i)\",\"ts\":$(ts $i),\"status\":\"ok\"}"
  done
} > "$tmp/live.jsonl"

start_viewer() {  # start_viewer NAME ARGS...: the viewer in a new tmux window; sets $target
  local name=$1; shift
  # the inner sh execs the viewer, so the pid it writes is the viewer's
  local init=""
  [ -n "${LUA_INIT_5_4:-}" ] && init="LUA_INIT_5_4=\"\$(cat '$tmp/$name.init')\"" && printf '%s' "$LUA_INIT_5_4" > "$tmp/$name.init"
  local cmd="cd '$tmp'; $init LUA_PATH='$LUA_PATH' LUA_CPATH='$LUA_CPATH' sh -c 'echo \$\$ > $name.pid; exec lua5.4 $BIN view $*' 2> '$tmp/$name.err'; echo \"EXITED \$?\"; stty -a | tr ' ' '\n' | grep -x -- '-*icanon'; sleep 60"
  if tmux -L "$sock" has-session 2>/dev/null; then
    target=$(tmux -L "$sock" new-window -d -P -F '#{window_id}' "$cmd")
  else
    target=$(tmux -L "$sock" new-session -d -x 120 -y 40 -P -F '#{window_id}' "$cmd")
  fi
}
screen() { tmux -L "$sock" capture-pane -p -t "$target"; }
keys() { tmux -L "$sock" send-keys -t "$target" "$@"; }
# wait_for PATTERN [SECONDS]: until the screen shows PATTERN (extended regex)
wait_for() {
  local pattern=$1 limit=${2:-10} i=0
  while [ $i -lt $((limit * 20)) ]; do
    if screen | grep -Eq -- "$pattern"; then return 0; fi
    sleep 0.05; i=$((i + 1))
  done
  fail "timed out waiting for: $pattern"
}
# absent PATTERN [SECONDS]: until the screen no longer shows PATTERN
absent() {
  local i=0 limit=${2:-10}
  while screen | grep -Eq -- "$1"; do
    [ $i -lt $((limit * 20)) ] || fail "still shown: $1"
    sleep 0.05; i=$((i + 1))
  done
}

start_viewer ui live.jsonl --follow
wait_for '^request +≥[0-9.]+m?s +\(did not end\) +█+▶'
wait_for 'following'
wait_for '^├─ auth +2\.00ms ok'
wait_for '^├─ db\.load +4\.00ms error: timeout'
wait_for '^│  └─ db\.parse'
wait_for '^└─ ▸ cache\.get × 4'
wait_for '^── request ─'                 # details pane of the first row
wait_for 'attrs path="/buy"'
wait_for 'q quit'

# move: down twice -> db.load selected, its details shown
keys j j
wait_for '^── db\.load ─'
wait_for 'events \+2\.00ms retry attempt=2'
# fold: Enter hides db.parse
keys Enter
wait_for '^├─ ▸ db\.load \(\+1\)'
absent 'db\.parse'
keys Space
wait_for '^│  └─ db\.parse'

# search: /cache Enter opens the group and selects the first match
keys / c a c h e
wait_for '^/cache'
keys Enter
wait_for "match 1/4 for 'cache'"
wait_for '^└─ ▾ cache\.get × 4'
keys n
wait_for "match 2/4 for 'cache'"
keys N N
wait_for "match 4/4 for 'cache'"
keys Escape
wait_for 'q quit'

# mode toggle: time buckets and back
keys t
wait_for '^\[time, buckets of '
wait_for '^▾ [0-9:.]+ \+0\.000000s +[0-9]+ spans?'
wait_for 'L2 +cache\.get'
keys t
wait_for '^\[logical, bars per trace\]'

# live: append a new trace while following; it shows up and the selection stays
keys g j                               # auth
wait_for '^── auth ─'
printf '{"type":"start","id":"%s","trace":"%s","name":"appended.job","ts":%s,"lane":3}\n' \
  "$(id 99)" "$(id 99)" "$(ts 20)" >> "$tmp/live.jsonl"
wait_for '^appended\.job +≥[0-9.]+[mun]?s +\(did not end\) +█*▶' 5
wait_for '^── auth ─'
wait_for '^\[logical, bars per trace\] 9 spans, 2 traces, 2 open'
printf '{"type":"end","id":"%s","ts":%s,"status":"error","error":"boom"}\n' "$(id 99)" "$(ts 25)" >> "$tmp/live.jsonl"
wait_for '^appended\.job +5\.00ms error: boom' 5

# follow toggle: f stops following (header says so), f again resumes
keys f
absent 'following'
keys f
wait_for 'following'

# resize: the layout follows the window (footer on the new last line)
tmux -L "$sock" resize-window -t "$target" -x 90 -y 30
wait_for '^↑↓ move .*q quit'
[ "$(screen | wc -l)" -eq 30 ] || fail "pane is not 30 lines"
screen | sed -n 30p | grep -q 'q quit' || fail "footer not on line 30 after resize"
[ "$(screen | sed -n 2p | sed 's/ *$//' | wc -m)" -le 91 ] || fail "row wider than 90 columns"
tmux -L "$sock" resize-window -t "$target" -x 120 -y 40
wait_for '^── auth ─'

# help, then quit: the shell gets back a cooked terminal and the main screen
keys '?'
wait_for 'spanline view: keys'
keys Escape
absent 'spanline view: keys'
keys q
wait_for '^EXITED 0'
wait_for '^icanon$'
[ "$(tmux -L "$sock" display -p -t "$target" '#{alternate_on}')" = 0 ] || fail "still on the alternate screen"
[ ! -s "$tmp/ui.err" ] || fail "stderr: $(cat "$tmp/ui.err")"

# columns at 160 and 80: a long error keeps its words when the names leave
# room; dotted names keep their last parts; `s` puts every trace's bars on
# one scale and the header says so
cp "${SPANLINE_FIXTURES:-$(dirname "$0")/../fixtures}/view_columns.jsonl" "$tmp/columns.jsonl"
start_viewer cols columns.jsonl
tmux -L "$sock" resize-window -t "$target" -x 160 -y 30
wait_for '^└─ payments\.gateway\.client\.charge +740ms error: payments-gateway returned 503 after 3 retries +█'
wait_for '^├─ app\.services\.billing\.invoices\.InvoiceRenderer\.render_pdf '
wait_for '^\[logical, bars per trace\]'
tmux -L "$sock" resize-window -t "$target" -x 80 -y 30
wait_for '^├─ …InvoiceRenderer\.render_pdf +390ms'
wait_for '^├─ …paginate_document_sections +280ms'
wait_for '^└─ …gateway\.client\.charge +740ms error: payments'
[ "$(screen | grep -c '^cron\.cleanup  .* ████████████████$')" -eq 1 ] || fail "per-trace bar of the 45 ms trace"
keys s
wait_for '^\[logical, bars on one scale\]'
wait_for '^cron\.cleanup +45\.0ms ok +█$'
keys q
wait_for '^EXITED 0'
tmux -L "$sock" resize-window -t "$target" -x 120 -y 40

# SIGTERM while running: terminal restored too
start_viewer term live.jsonl
wait_for '^request '
kill -TERM "$(cat "$tmp/term.pid")"
wait_for '^EXITED 143'
wait_for '^icanon$'
[ "$(tmux -L "$sock" display -p -t "$target" '#{alternate_on}')" = 0 ] || fail "SIGTERM left the alternate screen on"
# SIGINT (as from kill; Ctrl-C itself arrives as a key in raw mode): same
start_viewer int live.jsonl
wait_for '^request '
kill -INT "$(cat "$tmp/int.pid")"
wait_for '^EXITED 130'
wait_for '^icanon$'

# a Lua error inside the loop (injected through LUA_INIT when the details
# pane draws "auth"): one line on stderr, exit 1, terminal restored
export LUA_INIT_5_4="local d = require('spanline.view.draw'); local f = d.details
d.details = function(s, ...) if s.name == 'auth' then error('injected failure') end return f(s, ...) end"
start_viewer boom live.jsonl
unset LUA_INIT_5_4
wait_for '^request '
keys j
wait_for '^EXITED 1'
wait_for '^icanon$'
[ "$(tmux -L "$sock" display -p -t "$target" '#{alternate_on}')" = 0 ] || fail "an error left the alternate screen on"
grep -q '^spanline view: .*injected failure' "$tmp/boom.err" || fail "error message: $(cat "$tmp/boom.err")"
[ "$(wc -l < "$tmp/boom.err")" -eq 1 ] || fail "more than one line on stderr: $(cat "$tmp/boom.err")"
# a 10^5-deep chain (span i's parent is span i-1): loads, G goes to the
# bottom (guides capped, depth shown), g back to the top, q quits cleanly
lua5.4 "$(dirname "$0")/gen_chain.lua" 100000 n > "$tmp/deep.jsonl"
start_viewer deep deep.jsonl
wait_for '^\[logical, bars per trace\] 100000 spans, 1 trace' 60
absent 'loading' 60
keys G
wait_for '\[depth 99999\] └─ n ' 30
wait_for '\[depth 99990\] └─ n '
keys g
wait_for '^n +200us ok' 30
keys q
wait_for '^EXITED 0' 30
[ ! -s "$tmp/deep.err" ] || fail "deep chain stderr: $(cat "$tmp/deep.err")"
echo "view_tmux: ok"
