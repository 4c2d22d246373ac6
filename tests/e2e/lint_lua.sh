#!/usr/bin/env bash
# luacheck (Debian's lua-check) over the Lua front end: no warning, with the
# project's .luacheckrc (Lua 5.4). Skipped (77) when luacheck is missing.
set -euo pipefail
command -v luacheck >/dev/null || { echo "luacheck not installed: skipped"; exit 77; }
luacheck --config .luacheckrc --formatter plain lua bin/spanline
