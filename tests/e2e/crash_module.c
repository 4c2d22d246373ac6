/*
 * crash_module.c: a test-only Lua C module, sl_test_crash, whose functions
 * end the process the hard way (a real invalid memory access, abort()), so
 * the e2e tests can crash a Lua program for real. Never installed.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

static void no_core_file(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
}

static int l_segv(lua_State *L)
{
    (void)L;
    no_core_file();
    volatile char *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    return 0;
}

static int l_abort(lua_State *L)
{
    (void)L;
    no_core_file();
    abort();
}

int luaopen_sl_test_crash(lua_State *L);

int luaopen_sl_test_crash(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"segv", l_segv}, {"abort", l_abort}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
