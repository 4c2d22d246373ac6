-- The LuaRocks package: the same CMake build as `cmake --install`, with the
-- Lua modules, the C module and the CLI placed where LuaRocks wants them.
rockspec_format = "3.0"
package = "spanline"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Span tracer for Lua programs with a C core",
  detailed = [[
Trace Lua 5.4 programs: spans nest per coroutine, every start, event and end
is streamed at once as JSONL or MessagePack; a terminal viewer, a query layer
and a CLI read the streams back.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "lua-cjson",
  "luv",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    SL_LUA_LMOD = "$(LUADIR)",
    SL_LUA_CMOD = "$(LIBDIR)",
    SL_BINDIR = "$(BINDIR)",
    SPANLINE_TESTS = "OFF",
    SPANLINE_INSTALL_LIB = "OFF",
  },
}
