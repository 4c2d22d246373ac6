/*
 * lhookset.c: which functions hook mode traces, and the hook's presence:
 * the set of instrumented functions (by address; each a registration that
 * an open frame keeps alive after undo), putting the hook on the threads
 * and taking it off with the last function, and the core.hook_* functions.
 *
 * Key idea: the hook is on only while some function is instrumented, so a
 * program pays for it only then; taking it off gives every thread back the
 * hook it had and the debug library its own functions.
 */
#include <string.h>

#include "lhook.h"

/* ===== THE SET OF INSTRUMENTED FUNCTIONS ===== */

static int set_grow(hstate *hs)
{
    size_t cap = hs->cap ? hs->cap * 2 : 64;
    const void **keys = (const void **)calloc(cap, sizeof *keys);
    hreg **regs = (hreg **)calloc(cap, sizeof *regs);
    if (keys == NULL || regs == NULL) {
        free(keys);
        free(regs);
        return 0;
    }
    for (size_t i = 0; i < hs->cap; i++) {
        if (hs->keys[i] == NULL) continue;
        size_t j = ptr_hash(hs->keys[i], cap);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = hs->keys[i];
        regs[j] = hs->regs[i];
    }
    free(hs->keys);
    free(hs->regs);
    hs->keys = keys;
    hs->regs = regs;
    hs->cap = cap;
    return 1;
}

static int set_add(hstate *hs, hreg *r)
{
    if ((hs->count + 1) * 2 > hs->cap && !set_grow(hs)) return 0;
    size_t i = ptr_hash(r->fn, hs->cap);
    while (hs->keys[i]) i = (i + 1) & (hs->cap - 1);
    hs->keys[i] = r->fn;
    hs->regs[i] = r;
    hs->count++;
    return 1;
}

/* Removes fn (backward-shift deletion: no tombstones). */
static hreg *set_remove(hstate *hs, const void *fn)
{
    if (hs->count == 0) return NULL;
    size_t mask = hs->cap - 1, i = ptr_hash(fn, hs->cap);
    while (hs->keys[i] != fn) {
        if (hs->keys[i] == NULL) return NULL;
        i = (i + 1) & mask;
    }
    hreg *r = hs->regs[i];
    for (size_t j = (i + 1) & mask; hs->keys[j]; j = (j + 1) & mask) {
        size_t home = ptr_hash(hs->keys[j], hs->cap);
        /* j's entry may move to the hole at i if its home is not in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            hs->keys[i] = hs->keys[j];
            hs->regs[i] = hs->regs[j];
            i = j;
        }
    }
    hs->keys[i] = NULL;
    hs->regs[i] = NULL;
    hs->count--;
    return r;
}

/* ===== INSTALLING ===== */

static lua_CFunction field_cfunction(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    return f;
}

static int noop(lua_State *L)
{
    (void)L;
    return 0;
}

/* Which C functions are pcall, resume, ...: by pointer, from the standard
 * libraries as loaded (a Lua replacement is not recognised; errors through
 * it are still found, by the next C function that returns). */
static void learn_functions(lua_State *L, hstate *hs)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    int loaded = lua_gettop(L);
    lua_getfield(L, loaded, "_G");
    hs->pcall = field_cfunction(L, -1, "pcall");
    hs->xpcall = field_cfunction(L, -1, "xpcall");
    lua_getfield(L, loaded, "coroutine");
    int co = lua_gettop(L);
    hs->resume = field_cfunction(L, co, "resume");
    hs->create = field_cfunction(L, co, "create");
    hs->wrap = field_cfunction(L, co, "wrap");
    hs->close = field_cfunction(L, co, "close");
    if (hs->wrap) {
        lua_pushcfunction(L, hs->wrap);
        lua_pushcfunction(L, noop);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) hs->auxwrap = lua_tocfunction(L, -1);
        lua_pop(L, 1);
    }
    lua_getfield(L, loaded, "debug");
    lsl_hook_learn_debug(L, lua_gettop(L));
    lua_settop(L, top);
}

static void install(lua_State *L, hstate *hs)
{
    if (hs->installed) return;
    learn_functions(L, hs);
    lsl_hook_active = hs;
    hs->installed = 1;
    lsl_hook_swap_debug(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    hshadow *sh = lsl_hook_shadow(hs, L, main, 1);
    if (sh) lsl_hook_thread(sh, main);
    if (L != main && (sh = lsl_hook_shadow(hs, L, L, 1)) != NULL) lsl_hook_thread(sh, L);
}

/* Takes the hook off every thread it knows (their own hooks go back) and
 * ends the spans still open there (status ok: they end at the undo). */
static void uninstall(lua_State *L, hstate *hs)
{
    if (!hs->installed) return;
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_THREADS));
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        hshadow *sh = (hshadow *)lua_touserdata(L, -1);
        lua_State *co = lua_tothread(L, -2);
        lua_pop(L, 1);
        if (sh == NULL || co == NULL) continue;
        while (sh->n > 0) lsl_hook_pop(hs, L, sh, 0, 0);
        if (lua_gethook(co) == lsl_hook_fn) lua_sethook(co, sh->host, sh->host_mask, sh->host_count);
        sh->host = NULL;
        sh->host_mask = sh->host_count = 0;
        lsl_hook_slot_release(hs, sh);
    }
    lua_settop(L, top);
    /* shadows made again on the next install */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_THREADS));
    lsl_hook_swap_debug(L, 0);
    /* no frame holds an op closure any more: copies of spanline.core a
     * program dropped may be collected */
    for (int i = 0; i < hs->ninst; i++) luaL_unref(L, LUA_REGISTRYINDEX, hs->inst[i].op_ref);
    hs->ninst = 0;
    hs->installed = 0;
    if (lsl_hook_active == hs) lsl_hook_active = NULL;
}

/* ===== LIFETIMES ===== */

static int l_state_gc(lua_State *L)
{
    hstate *hs = (hstate *)lua_touserdata(L, 1);
    if (lsl_hook_active == hs) {
        hs->installed = 0;
        lsl_hook_active = NULL;
    }
    for (size_t i = 0; i < hs->cap; i++)
        if (hs->keys[i]) reg_unref(hs->regs[i]);
    free(hs->keys);
    free(hs->regs);
    free(hs->slots);
    free(hs->free_slots);
    memset(hs, 0, sizeof *hs);
    return 0;
}

/* This Lua state's hook state, made on first use. */
static hstate *get_state(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_STATE)) == LUA_TUSERDATA) {
        hstate *hs = (hstate *)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return hs;
    }
    lua_pop(L, 1);
    hstate *hs = (hstate *)lua_newuserdatauv(L, sizeof(hstate), 0);
    memset(hs, 0, sizeof *hs);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_STATE));

    lua_createtable(L, 0, 1);                       /* shadow metatable */
    lua_pushcfunction(L, lsl_hook_shadow_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_SHADOW_MT));
    lua_newtable(L);                                /* thread -> shadow, weak keys */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_THREADS));
    lua_newtable(L);                                /* fn -> tracer (keeps both) */
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_FNS));
    lua_newtable(L);                                /* light shadow -> error value */
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_ERRS));
    lua_createtable(L, 4, 0);                       /* saved / our debug functions */
    lua_pushcfunction(L, lsl_hook_sethook);
    lua_rawseti(L, -2, 3);
    lua_pushcfunction(L, lsl_hook_gethook);
    lua_rawseti(L, -2, 4);
    lua_rawsetp(L, LUA_REGISTRYINDEX, HKEY(HK_DEBUG));
    return hs;
}

/* The calling copy of spanline.core (its op closure made on first use);
 * NULL when there are too many. */
static hinst *get_instance(lua_State *L, hstate *hs)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    for (int i = 0; i < hs->ninst; i++)
        if (hs->inst[i].st == st) return &hs->inst[i];
    if (hs->ninst == MAX_INSTANCES) return NULL;
    /* the span op closure shares this function's upvalues */
    for (int i = 1; i <= UV_COUNT; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_pushcclosure(L, lsl_hook_op, UV_COUNT);
    hinst *in = &hs->inst[hs->ninst++];
    in->st = st;
    in->op_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return in;
}

/* ===== MODULE FUNCTIONS ===== */

/* core.hook_add(fn, tracer, name) -> true, or false when fn is already
 * instrumented. Sets the hook on first use. */
static int l_hook_add(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lsl_tracer *tr = lsl_tracer_check(L, 2);
    size_t len;
    const char *name = luaL_checklstring(L, 3, &len);
    hstate *hs = get_state(L);
    if (lsl_hook_active && lsl_hook_active != hs)
        return luaL_error(L, "hook-mode instrumentation is on in another Lua state of this process");
    const void *fn = lua_topointer(L, 1);
    if (set_find(hs, fn)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    hinst *in = get_instance(L, hs);
    if (in == NULL) return luaL_error(L, "spanline.core is loaded too many times for hook mode");
    hreg *r = (hreg *)malloc(sizeof(hreg) + len);
    if (r == NULL) return luaL_error(L, "not enough memory");
    r->tr = tr;
    r->st = in->st;
    r->op_ref = in->op_ref;
    r->fn = fn;
    r->refs = 1;
    r->len = len;
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    if (!set_add(hs, r)) {
        free(r);
        return luaL_error(L, "not enough memory");
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_FNS));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    install(L, hs);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.hook_remove(fn) -> true if it was instrumented. The hook comes off
 * with the last function. */
static int l_hook_remove(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    hstate *hs = get_state(L);
    hreg *r = set_remove(hs, lua_topointer(L, 1));
    if (r == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    r->tr = NULL;
    reg_unref(r);
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_FNS));
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    if (hs->count == 0) uninstall(L, hs);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.hook_name(fn) -> the span name of an instrumented function, or nil. */
static int l_hook_name(lua_State *L)
{
    hstate *hs = get_state(L);
    hreg *r = set_find(hs, lua_topointer(L, 1));
    if (r == NULL || lua_type(L, 1) != LUA_TFUNCTION) return 0;
    lua_pushlstring(L, r->name, r->len);
    return 1;
}

/* core.hook_unwind(err) -> n: ends (status error, message err) the spans of
 * the calling thread's frames deeper than the caller: for a program whose
 * error left through a catcher the hook did not see return (lua.c's SIGINT
 * handler takes the hook off). */
static int l_hook_unwind(lua_State *L)
{
    hstate *hs = get_state(L);
    if (!hs->installed) {
        lua_pushinteger(L, 0);
        return 1;
    }
    hshadow *sh = lsl_hook_shadow(hs, L, L, 0);
    lua_Debug ar;
    const void *caller = lua_getstack(L, 1, &ar) ? ar.i_ci : NULL;
    size_t i = 0, n = 0;
    if (sh) {
        i = sh->n;
        while (i > 0 && sh->frames[i - 1].ci != caller) i--;
        lua_settop(L, 1);
        while (sh->n > i) {
            n += sh->frames[sh->n - 1].kind == F_SPAN;
            lsl_hook_pop(hs, L, sh, 1, lua_isnil(L, 1) ? 0 : 1);
        }
    }
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* core.hook_stats() -> {functions, open, threads, installed} */
static int l_hook_stats(lua_State *L)
{
    hstate *hs = get_state(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)hs->count);
    lua_setfield(L, -2, "functions");
    lua_pushinteger(L, (lua_Integer)hs->open_spans);
    lua_setfield(L, -2, "open");
    lua_pushinteger(L, hs->nslots - hs->nfree);
    lua_setfield(L, -2, "threads");
    lua_pushboolean(L, hs->installed);
    lua_setfield(L, -2, "installed");
    return 1;
}

const luaL_Reg lsl_hook_module[] = {
    {"hook_add", l_hook_add},
    {"hook_remove", l_hook_remove},
    {"hook_name", l_hook_name},
    {"hook_unwind", l_hook_unwind},
    {"hook_stats", l_hook_stats},
    {NULL, NULL}
};
