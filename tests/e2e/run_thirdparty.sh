#!/usr/bin/env bash
# run_thirdparty.sh: programs nobody here wrote behave under
# `spanline run --instrument` exactly as under lua5.4: luacheck (Debian's
# lua-check) over a fixed set of files, Penlight (lua-penlight) where the
# issue saw it change (an error position, an alias, pl.app re-running its
# interpreter), and busted running some of this project's own specs.
# Each program missing from the machine is skipped; all missing: exit 77.
set -euo pipefail

# shellcheck source=support/run_env.sh
. "$(dirname "$0")/support/run_env.sh"
ran=0

# same NAME CMD...: runs CMD under lua5.4 and under `spanline run` with the
# options in the array run_opts; stdout, stderr and the exit status must be equal.
same() {
  local name=$1; shift
  local rc_plain rc_traced
  set +e
  (cd "$tmp" && lua5.4 "$@") >"$tmp/$name.plain.out" 2>"$tmp/$name.plain.err"; rc_plain=$?
  (cd "$tmp" && lua5.4 "$bin" run "${run_opts[@]}" -o "$tmp/$name.jsonl" "$@") \
    >"$tmp/$name.traced.out" 2>"$tmp/$name.traced.err"; rc_traced=$?
  set -e
  [ "$rc_plain" = "$rc_traced" ] || fail "$name: exit status $rc_traced, lua5.4 gives $rc_plain"
  cmp -s "$tmp/$name.plain.out" "$tmp/$name.traced.out" \
    || fail "$name: stdout differs: $(diff "$tmp/$name.plain.out" "$tmp/$name.traced.out" | head -5)"
  cmp -s "$tmp/$name.plain.err" "$tmp/$name.traced.err" \
    || fail "$name: stderr differs: $(diff "$tmp/$name.plain.err" "$tmp/$name.traced.err" | head -5)"
}

# spans FILE MIN: at least MIN spans, all ended (abandoned: still running at
# os.exit), no unreadable line.
spans() {
  lua5.4 - "$1" "$2" <<'EOF' || fail "trace $1"
local query = require("spanline.query")
local q = assert(query.open(arg[1]))
local n = 0
for s in q:spans():iter() do
  n = n + 1
  assert(s.status ~= "open", s.name .. " never ended")
end
assert(q:bad_lines() == 0, "unreadable lines")
assert(n >= tonumber(arg[2]), n .. " spans")
EOF
}

# --- luacheck over this repository's Lua sources (a fixed set of files) ----
luacheck_dir=/usr/share/lua/5.1/luacheck
if [ -f "$luacheck_dir/main.lua" ]; then
  ran=$((ran + 1))
  echo 'require "luacheck.main"' >"$tmp/luacheck.lua"
  printf 'local x = \n' >"$tmp/broken.lua"       # a syntax error: luacheck's message and status
  (
    export LUA_PATH="/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;${LUA_PATH:-;}"
    files=("$src/lua/spanline/query" "$src/lua/spanline/view" "$src/examples" "$tmp/broken.lua")
    for mode in hook wrap; do
      run_opts=(--instrument 'luacheck.**')
      [ "$mode" = wrap ] && run_opts+=(--wrap)
      same "luacheck_$mode" "$tmp/luacheck.lua" --no-color --codes --ranges "${files[@]}"
      spans "$tmp/luacheck_$mode.jsonl" 10000
    done
    grep -Eq "Total: [0-9]+ warnings? / 1 error in" "$tmp/luacheck_hook.plain.out" || fail "luacheck output"
  )
fi

# --- Penlight: the cases the issue saw change under instrumentation --------
if [ -f /usr/share/lua/5.4/pl/stringx.lua ]; then
  ran=$((ran + 1))
  cat >"$tmp/penlight.lua" <<'EOF'
local stringx = require("pl.stringx")
local pretty = require("pl.pretty")
local List = require("pl.List")
local app = require("pl.app")
local utils = require("pl.utils")
-- an error position computed from the caller's level (utils.assert_arg)
print(pcall(stringx.split, 42, ","))
print(select(2, pcall(function() return stringx.split(42, ",") end)))
-- one function under two names
print(stringx.capitalize == stringx.title, stringx.title("hello world"))
-- ordinary work
print(pretty.write({ a = 1, b = { "x", "y" } }, ""))
print(List({ 3, 1, 2 }):sort():map(function(x) return x * 10 end):concat(","))
print(utils.quote_arg({ "a b", "c" }))
-- pl.app: the interpreter the program runs on, re-run with -e
local lua = app.lua()
local ok, code = os.execute(lua .. " -e 'io.write(\"child: \", _VERSION, \"\\n\")'")
print("child exited", ok, code)
print(app.parse_args({ "-v", "--out=x", "file" }, { out = true }).out)
stringx.split(42, ",")   -- uncaught: the message and traceback lua5.4 prints
EOF
  for mode in hook wrap; do
    run_opts=(--instrument 'pl.*')
    [ "$mode" = wrap ] && run_opts+=(--wrap)
    if [ "$mode" = hook ]; then
      same "penlight" "$tmp/penlight.lua"
    else
      # wrap mode replaces functions: frames (and so positions) may differ;
      # the aliases still are one function and the work is the same
      lua5.4 "$bin" run "${run_opts[@]}" -o "$tmp/pl_wrap.jsonl" "$tmp/penlight.lua" >"$tmp/pl_wrap.out" 2>/dev/null || true
      grep -q "^true	Hello World$" "$tmp/pl_wrap.out" || fail "wrap mode: stringx.capitalize ~= stringx.title"
    fi
  done
  grep -q "^child: Lua 5.4$" "$tmp/penlight.traced.out" || fail "pl.app did not re-run lua5.4"
  grep -q "stringx.lua:[0-9]*: argument 1 expected a 'string', got a 'number'" "$tmp/penlight.traced.out" \
    || fail "error position of stringx.split: $(head -3 "$tmp/penlight.traced.out")"
  grep -q '"name":"pl.stringx.split"' "$tmp/penlight.jsonl" || fail "no pl.stringx.split span"
fi

# --- busted running some of this project's specs ----------------------------
if command -v busted >/dev/null && [ -f /usr/share/lua/5.4/busted/runner.lua ]; then
  ran=$((ran + 1))
  bustedbin=$(command -v busted)
  run_opts=(--instrument 'busted.**')
  specs=("$src/tests/lua/text_spec.lua" "$src/tests/lua/report_spec.lua" "$src/tests/lua/reader_spec.lua")
  set +e
  (cd "$src" && lua5.4 "$bustedbin" -o TAP "${specs[@]}") >"$tmp/busted.plain" 2>&1; rc_plain=$?
  (cd "$src" && lua5.4 "$bin" run "${run_opts[@]}" -o "$tmp/busted.jsonl" "$bustedbin" -o TAP "${specs[@]}") \
    >"$tmp/busted.traced" 2>&1; rc_traced=$?
  set -e
  [ "$rc_plain" = "$rc_traced" ] || fail "busted: status $rc_traced, not $rc_plain"
  diff <(grep -E '^(not )?ok ' "$tmp/busted.plain") <(grep -E '^(not )?ok ' "$tmp/busted.traced") \
    || fail "busted: results differ"
  grep -q '"name":"busted.' "$tmp/busted.jsonl" || fail "busted: no busted.* spans"
fi

[ "$ran" -gt 0 ] || { echo "run_thirdparty: none of luacheck, Penlight, busted installed: skipped"; exit 77; }
echo "run_thirdparty: ok ($ran programs)"
