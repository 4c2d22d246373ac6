/*
 * lcallback.c: where the tracer calls Lua: function outputs (their bytes
 * kept until a flush point), a Lua clock, and hooks (tracer:on).
 *
 * Key idea: Lua is only called on the Lua thread at points of our choosing:
 * a function output gets its bytes at flush points, hooks run under pcall
 * and cost one integer test when none is set, and none runs while another
 * one runs (spans that hooks make run no hooks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

/* ===== SINK AND CLOCK CALLBACKS ===== */

/* Callback output: keep the bytes until a flush point on the Lua thread. */
int lsl_tracer_write_pending(void *ud, const char *data, size_t len)
{
    lsl_tracer *tr = (lsl_tracer *)ud;
    if (tr->pending_len + len > tr->pending_cap) {
        size_t cap = tr->pending_cap ? tr->pending_cap : 4096;
        while (cap < tr->pending_len + len) cap *= 2;
        char *p = (char *)realloc(tr->pending, cap);
        if (p == NULL) return ENOMEM;
        tr->pending = p;
        tr->pending_cap = cap;
    }
    memcpy(tr->pending + tr->pending_len, data, len);
    tr->pending_len += len;
    return 0;
}

uint64_t lsl_tracer_clock(void *ud)
{
    lsl_tracer *tr = (lsl_tracer *)ud;
    lua_State *L = tr->L;
    if (L == NULL || !pthread_equal(pthread_self(), tr->owner) || !lua_checkstack(L, 2))
        return sl_clock_now();
    /* No collection while the core waits for the time: a finalizer ending
     * a span would re-enter it. */
    int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
    lua_gc(L, LUA_GCSTOP);
    lua_rawgeti(L, LUA_REGISTRYINDEX, tr->clock_ref);
    int rc = lua_pcall(L, 0, 1, 0);
    if (gc_was_running) lua_gc(L, LUA_GCRESTART);
    if (rc != LUA_OK) {
        lua_pop(L, 1);
        return sl_clock_now();
    }
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    return isnum && v >= 0 ? (uint64_t)v : sl_clock_now();
}

static void report_once(int *reported, const char *what, const char *msg)
{
    if (*reported) return;
    *reported = 1;
    fprintf(stderr, "spanline: %s (reported once): %s\n", what, msg ? msg : "?");
}

void lsl_tracer_deliver(lua_State *L, lsl_tracer *tr)
{
    if (tr->delivering || tr->write_ref == LUA_NOREF) return;
    tr->delivering = 1;
    /* bounded: an output function that traces produces more output */
    for (int round = 0; round < 4 && tr->pending_len > 0; round++) {
        if (!lua_checkstack(L, 3)) break;
        lua_rawgeti(L, LUA_REGISTRYINDEX, tr->write_ref);
        lua_pushlstring(L, tr->pending, tr->pending_len);
        tr->pending_len = 0;
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            tr->output_errors++;
            report_once(&tr->output_reported, "error in the output function", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    tr->delivering = 0;
}

/* ===== HOOKS ===== */

static const char *const hook_kinds[] = {"start", "event", "end", NULL};

void lsl_tracer_run_hooks(lua_State *L, lsl_tracer *tr, int tr_idx, int kind, int nargs)
{
    int base = lua_gettop(L) - nargs;   /* the span */
    luaL_checkstack(L, nargs + 5, NULL);
    lua_getiuservalue(L, tr_idx, 1);
    lua_rawgeti(L, -1, kind + 1);
    int list = lua_gettop(L);
    lsl_state *st = tr->st;
    for (lua_Integer i = 1; lua_rawgeti(L, list, i) != LUA_TNIL; i++) {
        for (int j = 0; j <= nargs; j++) lua_pushvalue(L, base + j);
        st->hooks++;
        int rc = lua_pcall(L, nargs + 1, 0, 0);
        st->hooks--;
        if (rc != LUA_OK) {
            tr->hook_errors++;
            char what[64];
            snprintf(what, sizeof what, "error in a '%s' hook", hook_kinds[kind]);
            report_once(&tr->hook_reported, what, lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    lua_settop(L, base - 1);
}

static int l_unsubscribe(lua_State *L)
{
    if (lua_toboolean(L, lua_upvalueindex(4))) return 0;
    lua_pushboolean(L, 1);
    lua_replace(L, lua_upvalueindex(4));
    lsl_tracer *tr = (lsl_tracer *)lua_touserdata(L, lua_upvalueindex(1));
    int kind = (int)lua_tointeger(L, lua_upvalueindex(2));
    lua_getiuservalue(L, lua_upvalueindex(1), 1);
    lua_rawgeti(L, -1, kind + 1);
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        int same = lua_rawequal(L, -1, lua_upvalueindex(3));
        lua_pop(L, 1);
        if (!same) continue;
        for (lua_Integer j = i; j < n; j++) {
            lua_rawgeti(L, list, j + 1);
            lua_rawseti(L, list, j);
        }
        lua_pushnil(L);
        lua_rawseti(L, list, n);
        tr->nhooks[kind]--;
        break;
    }
    return 0;
}

/* tracer:on("start"|"event"|"end", fn) -> unsubscribe */
int lsl_tracer_on(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, hook_kinds);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_getiuservalue(L, 1, 1);
    lua_rawgeti(L, -1, kind + 1);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    tr->nhooks[kind]++;
    lua_pushvalue(L, 1);
    lua_pushinteger(L, kind);
    lua_pushvalue(L, 3);
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, l_unsubscribe, 4);
    return 1;
}

