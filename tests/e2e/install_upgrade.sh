#!/usr/bin/env bash
# `cmake --install` over an older install: a module the old layout had
# (spanline/query.lua, replaced by spanline/query/init.lua) must not
# survive to shadow its replacement, and the installed CLI must work.
set -euo pipefail
build=${SPANLINE_BUILD_DIR:?needs SPANLINE_BUILD_DIR}
fix=${SPANLINE_FIXTURES:-tests/fixtures}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp" >/dev/null
lmod="$tmp/share/lua/5.4/spanline"
[ -f "$lmod/query/init.lua" ] || { echo "FAIL: no query/init.lua installed"; exit 1; }
echo 'error("stale module from an old install")' > "$lmod/query.lua"
cmake --install "$build" --prefix "$tmp" >/dev/null
[ ! -e "$lmod/query.lua" ] || { echo "FAIL: the stale spanline/query.lua survived the install"; exit 1; }
out=$(env -u LUA_INIT -u LUA_INIT_5_4 LUA_PATH="$tmp/share/lua/5.4/?.lua;$tmp/share/lua/5.4/?/init.lua;;" \
  LUA_CPATH="$tmp/lib/lua/5.4/?.so;;" lua5.4 "$tmp/bin/spanline" tree "$fix/query_basic.jsonl")
grep -q '─' <<<"$out" || { echo "FAIL: installed spanline tree printed: $out"; exit 1; }
echo "install over an old layout ok"
