#!/usr/bin/env bash
# The rockspec installs a working spanline: `luarocks make --deps-mode=none`
# into a private tree, then require the module and run the CLI from there.
set -euo pipefail
src=${SPANLINE_SOURCE_DIR:-$(pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/src" -xf -
cd "$work/src"
luarocks --lua-version 5.4 make --deps-mode=none --tree="$work/tree" rockspec/spanline-scm-1.rockspec >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
eval "$(luarocks --lua-version 5.4 path --tree="$work/tree")"
cd "$work"
out=$(lua5.4 -e 'local s = require("spanline"); local t = s.tracer{ output = "t.jsonl" }; t:start("hello"):finish(); t:close(); print(require("spanline.core").version)')
[ -n "$out" ] || { echo "module did not load"; exit 1; }
grep -q '"name":"hello"' t.jsonl || { echo "no span written"; cat t.jsonl; exit 1; }
test -x "$work/tree/bin/spanline" || { echo "no spanline command installed"; ls -R "$work/tree/bin"; exit 1; }
"$work/tree/bin/spanline" --help >/dev/null
echo "rockspec ok: $out"
