/*
 * ltracer.c: the tracer userdata (open, flush/close, stats, the anchor that
 * keeps it alive while its spans are open) and the registration of the
 * tracer half of spanline.core (its calls into Lua are in lcallback.c).
 *
 * Key idea: every function of this half shares the same upvalues (UV_*), so
 * the hot path needs no registry lookups; a process-wide list closes the
 * tracers the program left open at exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ltrace.h"

/* ===== PROCESS-WIDE LIST (closed at exit) ===== */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static lsl_tracer *g_tracers;
static int g_atexit_set;

static void close_all_at_exit(void)
{
    pthread_mutex_lock(&g_lock);
    for (lsl_tracer *tr = g_tracers; tr; tr = tr->gnext) {
        if (tr->t == NULL) continue;
        tr->L = NULL;             /* no Lua from here on: clocks fall back */
        sl_tracer_close(tr->t);   /* ends the open spans as abandoned */
        tr->t = NULL;
    }
    g_tracers = NULL;
    pthread_mutex_unlock(&g_lock);
}

static void global_add(lsl_tracer *tr)
{
    pthread_mutex_lock(&g_lock);
    if (!g_atexit_set) {
        atexit(close_all_at_exit);
        g_atexit_set = 1;
    }
    tr->gprev = NULL;
    tr->gnext = g_tracers;
    if (g_tracers) g_tracers->gprev = tr;
    g_tracers = tr;
    pthread_mutex_unlock(&g_lock);
}

static void global_remove(lsl_tracer *tr)
{
    pthread_mutex_lock(&g_lock);
    if (tr->gprev) tr->gprev->gnext = tr->gnext;
    else if (g_tracers == tr) g_tracers = tr->gnext;
    if (tr->gnext) tr->gnext->gprev = tr->gprev;
    tr->gprev = tr->gnext = NULL;
    pthread_mutex_unlock(&g_lock);
}

void lsl_tracer_deliver_all(lua_State *L, lsl_state *st)
{
    for (;;) {
        lsl_tracer *found = NULL;
        pthread_mutex_lock(&g_lock);
        for (lsl_tracer *tr = g_tracers; tr; tr = tr->gnext)
            if (tr->st == st && tr->pending_len && !tr->delivering && tr->write_ref != LUA_NOREF) {
                found = tr;
                break;
            }
        pthread_mutex_unlock(&g_lock);
        if (found == NULL) return;
        lsl_tracer_deliver(L, found);
        if (found->pending_len) return;   /* it keeps producing: next time */
    }
}

/* ===== ANCHORS ===== */

void lsl_tracer_anchor_slow(lua_State *L, lsl_tracer *tr, int tr_idx)
{
    lua_pushvalue(L, tr_idx);
    lua_rawsetp(L, lua_upvalueindex(UV_ANCHOR), tr);
    tr->anchored = 1;
    tr->anext = tr->st->anchored;
    tr->st->anchored = tr;
}

static void unanchor(lua_State *L, lsl_tracer *tr)
{
    if (!tr->anchored) return;
    lsl_tracer **pp = &tr->st->anchored;
    while (*pp && *pp != tr) pp = &(*pp)->anext;
    if (*pp) *pp = tr->anext;
    tr->anext = NULL;
    tr->anchored = 0;
    lua_pushnil(L);
    lua_rawsetp(L, lua_upvalueindex(UV_ANCHOR), tr);
}

void lsl_tracer_release_idle(lua_State *L, lsl_state *st)
{
    for (lsl_tracer *tr = st->anchored, *next; tr; tr = next) {
        next = tr->anext;
        if (tr->open == NULL) unanchor(L, tr);
    }
}

void lsl_tracer_push(lua_State *L, lsl_tracer *tr)
{
    lua_rawgetp(L, lua_upvalueindex(UV_WEAK), tr);
}

static void unref_all(lua_State *L, lsl_tracer *tr)
{
    luaL_unref(L, LUA_REGISTRYINDEX, tr->clock_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, tr->write_ref);
    tr->clock_ref = tr->write_ref = LUA_NOREF;
}

/* core.tracer(opts) -> tracer | nil, message, code */
static int l_tracer_new(lua_State *L)
{
    lua_settop(L, 1);
    lsl_tracer *tr = (lsl_tracer *)lua_newuserdatauv(L, sizeof(lsl_tracer), 1);   /* 2 */
    memset(tr, 0, sizeof *tr);
    tr->magic = lsl_span_magic ^ 2;
    tr->st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    tr->clock_ref = tr->write_ref = LUA_NOREF;
    tr->owner = pthread_self();
    tr->L = L;
    /* hooks: {start = {}, event = {}, end = {}} by kind + 1 */
    lua_createtable(L, HOOK_KINDS, 0);
    for (int i = 1; i <= HOOK_KINDS; i++) {
        lua_newtable(L);
        lua_rawseti(L, -2, i);
    }
    lua_setiuservalue(L, 2, 1);
    /* the metatable first: a raised option error leaves a collectable,
     * closed tracer whose __gc releases the refs */
    lua_pushvalue(L, lua_upvalueindex(UV_TRACER_MT));
    lua_setmetatable(L, 2);

    sl_config cfg;
    lsl_tracer_options(L, tr, &cfg);
    sl_error err;
    memset(&err, 0, sizeof err);
    tr->sink = cfg.sink;
    tr->t = sl_tracer_open(&cfg, &err);
    if (tr->t == NULL) {
        unref_all(L, tr);
        if (err.code == SL_EIO && err.sys_errno != 0 && cfg.sink == SL_SINK_PATH)
            snprintf(err.message, sizeof err.message, "cannot open '%s': %s", cfg.path,
                     strerror(err.sys_errno));
        return lsl_fail_error(L, &err);
    }
    global_add(tr);
    /* light tracer -> tracer, weakly: span objects made later (traced
     * spans asked for) find their tracer here */
    lua_pushvalue(L, 2);
    lua_rawsetp(L, lua_upvalueindex(UV_WEAK), tr);
    lua_settop(L, 2);
    return 1;
}

/* ===== METHODS ===== */

/* The magic word (see lsl_span_test): no metatable lookup on the hot path. */
lsl_tracer *lsl_tracer_check(lua_State *L, int idx)
{
    lsl_tracer *tr = (lsl_tracer *)lua_touserdata(L, idx);
    if (tr == NULL || lua_rawlen(L, idx) != sizeof(lsl_tracer) || tr->magic != (lsl_span_magic ^ 2))
        luaL_typeerror(L, idx, "spanline.tracer");
    return tr;
}

/* tracer:start(name [, attrs [, opts]]) or tracer:start(name, key, value
 * [, opts]): one attribute as two arguments, no table to build. */
static int l_tracer_start(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) luaL_typeerror(L, 2, "string");
    size_t len;
    const char *name = lua_tolstring(L, 2, &len);
    int attrs = 0, pair = 0, opts = 0;
    int top = lua_gettop(L);
    if (top > 2) {
        int t = lua_type(L, 3);
        int opts_at = 4;
        if (t == LUA_TSTRING) {
            if (top < 4) luaL_argexpected(L, 0, 4, "attribute value");
            attrs = 3;
            pair = 1;
            opts_at = 5;
        } else if (t == LUA_TTABLE) {
            attrs = 3;
        } else if (t != LUA_TNIL) {
            luaL_typeerror(L, 3, "table or string");
        }
        if (top >= opts_at && !lua_isnil(L, opts_at)) {
            luaL_checktype(L, opts_at, LUA_TTABLE);
            opts = opts_at;
        }
    }
    lsl_span_open(L, tr, 1, name, len, attrs, pair, opts, "start", 0);
    return 1;
}

static int l_tracer_flush(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    if (tr->t == NULL) return lsl_fail(L, "tracer is closed", "ECLOSED");
    tr->L = L;
    int rc = sl_tracer_flush(tr->t);
    lsl_tracer_deliver(L, tr);
    if (rc != SL_OK) {
        sl_stats s;
        sl_tracer_stats(tr->t, &s);
        return lsl_write_fail(L, rc, s.last_errno);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* SL_OK, or why the last records could not be written (final_stats has
 * the errno). */
static int tracer_close(lua_State *L, lsl_tracer *tr)
{
    if (tr->t == NULL) return SL_OK;
    tr->L = L;
    lsl_span_abandon_all(L, tr);
    lsl_ctx_forget_tracer(tr);
    if (tr->sink == SL_SINK_MEMORY) {
        sl_tracer_flush(tr->t);
        size_t len = 0;
        const char *mem = sl_tracer_memory(tr->t, &len);
        free(tr->final);
        tr->final = (char *)malloc(len ? len : 1);
        if (tr->final && len) memcpy(tr->final, mem, len);
        tr->final_len = tr->final ? len : 0;
    }
    global_remove(tr);
    unanchor(L, tr);
    int rc = sl_tracer_close_stats(tr->t, &tr->final_stats);
    tr->t = NULL;
    lsl_tracer_deliver(L, tr);
    unref_all(L, tr);
    return rc;
}

/* tracer:close() -> true | nil, message, code (the last records could not
 * be written) */
static int l_tracer_close(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    int rc = tracer_close(L, tr);
    if (rc != SL_OK) return lsl_write_fail(L, rc, tr->final_stats.last_errno);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_tracer_gc(lua_State *L)
{
    lsl_tracer *tr = (lsl_tracer *)lua_touserdata(L, 1);
    tracer_close(L, tr);
    unref_all(L, tr);
    free(tr->pending);
    free(tr->final);
    tr->pending = tr->final = NULL;
    tr->pending_len = tr->pending_cap = tr->final_len = 0;
    return 0;
}

static int l_tracer_stats(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    sl_stats s;
    if (tr->t) sl_tracer_stats(tr->t, &s);
    else s = tr->final_stats;
    lua_createtable(L, 0, 15);
#define SET(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
    SET("records", s.records);
    SET("bytes", s.bytes);
    SET("dropped", s.dropped);
    SET("write_errors", s.write_errors);
    SET("last_errno", s.last_errno);
    SET("spans_started", s.spans_started);
    SET("spans_ended", s.spans_ended);
    SET("spans_open", s.spans_open);
    SET("abandoned", s.abandoned);
    SET("truncated", s.truncated);
    SET("overwritten", s.overwritten);
    SET("hook_errors", tr->hook_errors);
    SET("unsampled", tr->unsampled);
    SET("output_errors", tr->output_errors);
    SET("bad_traceparents", tr->bad_traceparents);
    sl_export_stats ex;
    if (tr->t && sl_tracer_export_stats(tr->t, &ex) == SL_OK) {   /* output = "otlp+http://..." */
        SET("export_sent", ex.spans_sent);
        SET("export_dropped", ex.spans_dropped);
        SET("export_rejected", ex.spans_rejected);
        SET("export_queued", ex.spans_queued);
        SET("export_retries", ex.retries);
    }
#undef SET
    lua_pushboolean(L, tr->t == NULL);
    lua_setfield(L, -2, "closed");
    return 1;
}

static int l_tracer_active(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    /* (entry, gen) pairs first: making objects allocates, and a collection
     * step may end spans of this list meanwhile */
    lua_Integer n = 0;
    for (lsl_entry *sp = tr->open; sp; sp = sp->tnext) n++;
    typedef struct { lsl_entry *e; uint32_t gen; } ref;
    ref *refs = (ref *)lua_newuserdatauv(L, (size_t)n * sizeof(ref) + 1, 0);   /* 2 */
    lua_Integer m = 0;
    for (lsl_entry *sp = tr->open; sp && m < n; sp = sp->tnext) {
        refs[m].e = sp;
        refs[m].gen = sp->gen;
        m++;
    }
    lua_createtable(L, (int)m, 0);                                               /* 3 */
    lua_Integer k = 0;
    for (lua_Integer i = m - 1; i >= 0; i--) {   /* oldest first */
        lsl_entry *e = refs[i].e;
        if (e->gen != refs[i].gen || !(e->state & LS_OPEN)) continue;
        lsl_span_push_object(L, e);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);  /* being collected */
            continue;
        }
        lua_rawseti(L, 3, ++k);
    }
    return 1;
}

static int l_tracer_output(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    if (tr->sink != SL_SINK_MEMORY) return lsl_fail(L, "output is not \":memory:\"", "EINVAL");
    if (tr->t) {
        tr->L = L;
        sl_tracer_flush(tr->t);
        size_t len = 0;
        const char *mem = sl_tracer_memory(tr->t, &len);
        lua_pushlstring(L, mem ? mem : "", len);
    } else {
        lua_pushlstring(L, tr->final ? tr->final : "", tr->final_len);
    }
    return 1;
}

static int l_tracer_clear(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    if (tr->sink == SL_SINK_MEMORY && tr->t) {
        sl_tracer_flush(tr->t);
        sl_tracer_memory_clear(tr->t);
    }
    return 0;
}

/* tracer:current() -> this tracer's current span in the running coroutine */
static int l_tracer_current(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    lsl_ctx_push_current(L, lsl_ctx_get(L, tr->st), tr);
    return 1;
}

static int l_tracer_tostring(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    lua_pushfstring(L, "spanline.tracer (%s)", tr->t ? "open" : "closed");
    return 1;
}

static const luaL_Reg tracer_methods[] = {
    {"start", l_tracer_start},
    {"traced", lsl_frame_traced},
    {"with", lsl_frame_with},
    {"enter", lsl_frame_enter},
    {"leave", lsl_frame_leave},
    {"flush", l_tracer_flush},
    {"close", l_tracer_close},
    {"stats", l_tracer_stats},
    {"active", l_tracer_active},
    {"output", l_tracer_output},
    {"clear", l_tracer_clear},
    {"current", l_tracer_current},
    {"on", lsl_tracer_on},
    {NULL, NULL}
};

static const luaL_Reg tracer_meta[] = {
    {"__gc", l_tracer_gc},
    {"__close", l_tracer_close},
    {"__tostring", l_tracer_tostring},
    {NULL, NULL}
};

static const luaL_Reg module_funcs[] = {
    {"tracer", l_tracer_new},
    {NULL, NULL}
};

/* ===== REGISTRATION ===== */

/* Created before any span or tracer, so finalized after all of them. */
static int l_state_gc(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, 1);
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    f(ud, st->attrs, st->cap_attrs * sizeof(sl_attr), 0);
    f(ud, st->items, st->cap_items * sizeof(sl_attr), 0);
    st->attrs = st->items = NULL;
    st->cap_attrs = st->cap_items = 0;
    /* every tracer was closed before (created later, finalized earlier):
     * the core links through no entry any more */
    for (size_t i = 0; i < st->nchunks; i++) free(st->chunks[i]);
    free(st->chunks);
    st->chunks = NULL;
    st->free = st->watch = NULL;
    st->nchunks = st->capchunks = 0;
    return 0;
}

/* Adds r to the table on the top, every function sharing the UV_* upvalues
 * that start at stack index first. */
static void setfuncs(lua_State *L, int first, const luaL_Reg *r)
{
    for (int i = 0; i < UV_COUNT; i++) lua_pushvalue(L, first + i);
    luaL_setfuncs(L, r, UV_COUNT);
}

static void weak_table(lua_State *L, const char *mode)
{
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
}

void lsl_open_tracer(lua_State *L)
{
    int m = lua_gettop(L);
    lsl_state *st = (lsl_state *)lua_newuserdatauv(L, sizeof(lsl_state), 0);   /* UV_STATE */
    memset(st, 0, sizeof *st);
    st->next_lane = 1;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    weak_table(L, "v");                      /* UV_WEAK */
    weak_table(L, "k");                      /* UV_CTXS */
    weak_table(L, "v");                      /* UV_INHERIT */
    luaL_newmetatable(L, "spanline.span");   /* UV_SPAN_MT */
    luaL_newmetatable(L, "spanline.tracer"); /* UV_TRACER_MT */
    lua_newtable(L);                         /* UV_CTX_MT */
    lua_newtable(L);                         /* UV_ANCHOR */
    lsl_spanobj *noop = (lsl_spanobj *)lua_newuserdatauv(L, lsl_spanobj_size(0, 0), 0);  /* UV_NOOP */
    if (lsl_span_magic == 0) {
        sl_id id;
        sl_idgen gen;
        sl_idgen_init(&gen, 0);
        sl_idgen_next(&gen, sl_clock_now(), &id);
        memcpy(&lsl_span_magic, id.bytes + 8, 8);
        lsl_span_magic |= 1;
    }
    memset(noop, 0, lsl_spanobj_size(0, 0));
    noop->magic = lsl_span_magic;
    noop->state = LS_NOOP;
    lua_pushvalue(L, m + UV_SPAN_MT);
    lua_setmetatable(L, -2);
    int first = m + 1;

    lua_newtable(L);                         /* span methods */
    setfuncs(L, first, lsl_span_methods);
    setfuncs(L, first, lsl_spanobj_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, m + UV_SPAN_MT, "__index");
    lua_pushvalue(L, m + UV_SPAN_MT);
    setfuncs(L, first, lsl_span_meta);
    lua_pop(L, 1);
    lua_setfield(L, m, "span_methods");

    /* the first abandoned-span sentinel; each one arms the next */
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 1);
    static const luaL_Reg sentinel_meta[] = {{"__gc", lsl_pool_sentinel_gc}, {NULL, NULL}};
    setfuncs(L, first, sentinel_meta);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);

    lua_newtable(L);                         /* tracer methods */
    setfuncs(L, first, tracer_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, m + UV_TRACER_MT, "__index");
    lua_setfield(L, m, "tracer_methods");
    lua_pushvalue(L, m + UV_TRACER_MT);
    setfuncs(L, first, tracer_meta);
    lua_pop(L, 1);

    lua_pushvalue(L, m + UV_CTX_MT);
    setfuncs(L, first, lsl_ctx_meta);
    lua_pop(L, 1);

    lua_pushvalue(L, m);
    setfuncs(L, first, module_funcs);
    setfuncs(L, first, lsl_ctx_module);
    setfuncs(L, first, lsl_hook_module);
    lua_pop(L, 1);

    lua_pushvalue(L, m + UV_NOOP);
    lua_setfield(L, m, "noop");
    lua_settop(L, m);
}
