/*
 * lhookdebug.c: the program's own debug hooks while hook mode is on.
 *
 * Key idea: a thread has one hook, and hook mode needs it; so while it is
 * on, debug.sethook and debug.gethook are replaced by versions that do what
 * the debug library does (the same argument checks, the same hook table in
 * the registry) but keep the program's hook as the thread's own, called
 * from ours for the events it asked for, and report it as if ours were not
 * there. The debug library's own hook function is learnt by setting it on a
 * scratch thread, so a hook set by the library is told from anyone else's.
 */
#include <string.h>

#include "lhook.h"

/* As ldblib.c does: an optional thread first. */
static lua_State *get_thread(lua_State *L, int *arg)
{
    if (lua_isthread(L, 1)) {
        *arg = 1;
        return lua_tothread(L, 1);
    }
    *arg = 0;
    return L;
}

static int make_mask(const char *smask, int count)
{
    int mask = 0;
    if (strchr(smask, 'c')) mask |= LUA_MASKCALL;
    if (strchr(smask, 'r')) mask |= LUA_MASKRET;
    if (strchr(smask, 'l')) mask |= LUA_MASKLINE;
    if (count > 0) mask |= LUA_MASKCOUNT;
    return mask;
}

/* debug.sethook([thread,] hook, mask [, count]): what the debug library
 * does (the same argument checks and hook table), with the hook kept as
 * the thread's own and called from ours. */
int lsl_hook_sethook(lua_State *L)
{
    int arg, mask, count;
    lua_State *L1 = get_thread(L, &arg);
    hstate *hs = lsl_hook_active;
    lua_Hook func;
    if (lua_isnoneornil(L, arg + 1)) {
        lua_settop(L, arg + 1);
        func = NULL;
        mask = 0;
        count = 0;
    } else {
        const char *smask = luaL_checkstring(L, arg + 2);
        luaL_checktype(L, arg + 1, LUA_TFUNCTION);
        count = (int)luaL_optinteger(L, arg + 3, 0);
        func = lsl_hook_dbhook;
        mask = make_mask(smask, count);
    }
    if (!luaL_getsubtable(L, LUA_REGISTRYINDEX, "_HOOKKEY")) {
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_pushvalue(L, -1);
        lua_setmetatable(L, -2);
    }
    if (L1 != L && !lua_checkstack(L1, 1)) return luaL_error(L, "stack overflow");
    lua_pushthread(L1);
    lua_xmove(L1, L, 1);
    lua_pushvalue(L, arg + 1);
    lua_rawset(L, -3);
    hshadow *sh = hs && hs->installed ? lsl_hook_shadow(hs, L, L1, 1) : NULL;
    if (sh == NULL) {
        lua_sethook(L1, func, mask, count);
        return 0;
    }
    sh->host = func;
    sh->host_mask = func ? mask : 0;
    sh->host_count = func ? count : 0;
    lua_sethook(L1, lsl_hook_fn, OUR_MASK | sh->host_mask,
                (sh->host_mask & LUA_MASKCOUNT) ? sh->host_count : sh->slot);
    return 0;
}

/* debug.gethook([thread]): the thread's own lsl_hook_fn, as if ours were not set. */
int lsl_hook_gethook(lua_State *L)
{
    int arg;
    lua_State *L1 = get_thread(L, &arg);
    hstate *hs = lsl_hook_active;
    lua_Hook h = lua_gethook(L1);
    int mask = lua_gethookmask(L1), count = lua_gethookcount(L1);
    if (h == lsl_hook_fn && hs) {
        hshadow *sh = lsl_hook_shadow(hs, L, L1, 0);
        h = sh ? sh->host : NULL;
        mask = sh ? sh->host_mask : 0;
        count = sh ? sh->host_count : 0;
    }
    if (h == NULL) {
        luaL_pushfail(L);
        return 1;
    }
    if (h != lsl_hook_dbhook) {
        lua_pushliteral(L, "external hook");
    } else {
        lua_getfield(L, LUA_REGISTRYINDEX, "_HOOKKEY");
        if (L1 != L && !lua_checkstack(L1, 1)) return luaL_error(L, "stack overflow");
        lua_pushthread(L1);
        lua_xmove(L1, L, 1);
        lua_rawget(L, -2);
        lua_remove(L, -2);
    }
    char buff[5];
    int i = 0;
    if (mask & LUA_MASKCALL) buff[i++] = 'c';
    if (mask & LUA_MASKRET) buff[i++] = 'r';
    if (mask & LUA_MASKLINE) buff[i++] = 'l';
    buff[i] = '\0';
    lua_pushstring(L, buff);
    lua_pushinteger(L, count);
    return 3;
}

void lsl_hook_learn_debug(lua_State *L, int dbg)
{
    int top = lua_gettop(L);
    lua_State *scratch = lua_newthread(L);
    lua_getfield(L, dbg, "sethook");
    if (lua_tocfunction(L, -1)) {
        lua_pushvalue(L, -2);
        lua_pushcfunction(L, lsl_hook_gethook);   /* any function: it never runs */
        lua_pushliteral(L, "l");
        if (lua_pcall(L, 3, 0, 0) == LUA_OK) lsl_hook_dbhook = lua_gethook(scratch);
        else lua_pop(L, 1);
        lua_getfield(L, dbg, "sethook");
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
    lua_settop(L, top);
}

/* debug.sethook/gethook replaced by ours (the originals kept in the
 * registry), or put back; only where they are still what we left. */
void lsl_hook_swap_debug(lua_State *L, int on)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    if (lua_getfield(L, -1, "debug") != LUA_TTABLE) {
        lua_settop(L, top);
        return;
    }
    int dbg = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_DEBUG));   /* {sethook, gethook, ours_set, ours_get} */
    int saved = lua_gettop(L);
    static const char *const names[] = {"sethook", "gethook"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, dbg, names[i]);
        lua_rawgeti(L, saved, 3 + i);
        int ours = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
        if (on && !ours) {
            lua_rawseti(L, saved, 1 + i);              /* the original */
            lua_rawgeti(L, saved, 3 + i);
            lua_setfield(L, dbg, names[i]);
        } else if (!on && ours) {
            lua_pop(L, 1);
            lua_rawgeti(L, saved, 1 + i);
            lua_setfield(L, dbg, names[i]);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}
