-- luacheck settings for lua/ (tests/e2e/lint_lua.sh runs it when Debian's
-- lua-check is installed): Lua 5.4, no line-length rule (the C-style
-- alignment of tables wins over it).
std = "lua54"
max_line_length = false
-- spanline.patch_coroutines() replaces coroutine.create/wrap on purpose.
files["lua/spanline/context.lua"] = { globals = { "coroutine" } }
-- methods keep self for a uniform call syntax even where unused
self = false
