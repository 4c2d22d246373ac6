/*
 * tracer.c: the tracer userdata (options, sinks, flush/close, stats, hooks)
 * and the registration of the whole tracer half of spanline.core.
 *
 * Key idea: Lua code is only ever called on the Lua thread at points Lua
 * chose: a callback output collects bytes in C and hands them to the Lua
 * function at flush points (flush, finish, close); hooks run under pcall and
 * cost one integer test when none is registered. Tracers still open at
 * process exit (os.exit without close) are closed by an atexit handler.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <lualib.h>

#include "ltracer.h"

/* ===== PROCESS-WIDE LIST (closed at exit) ===== */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static l_tracer *g_tracers;
static int g_atexit_set;

static void close_all_at_exit(void)
{
    pthread_mutex_lock(&g_lock);
    for (l_tracer *tr = g_tracers; tr; tr = tr->gnext) {
        if (tr->t == NULL) continue;
        tr->L = NULL;             /* no Lua from here on: clocks fall back */
        sl_tracer_close(tr->t);   /* ends the open spans as abandoned */
        tr->t = NULL;
    }
    g_tracers = NULL;
    pthread_mutex_unlock(&g_lock);
}

static void global_add(l_tracer *tr)
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

static void global_remove(l_tracer *tr)
{
    pthread_mutex_lock(&g_lock);
    if (tr->gprev) tr->gprev->gnext = tr->gnext;
    else if (g_tracers == tr) g_tracers = tr->gnext;
    if (tr->gnext) tr->gnext->gprev = tr->gprev;
    tr->gprev = tr->gnext = NULL;
    pthread_mutex_unlock(&g_lock);
}

/* ===== SINK AND CLOCK CALLBACKS ===== */

/* Callback output: keep the bytes until a flush point on the Lua thread. */
static int write_pending(void *ud, const char *data, size_t len)
{
    l_tracer *tr = (l_tracer *)ud;
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

static uint64_t lua_clock(void *ud)
{
    l_tracer *tr = (l_tracer *)ud;
    lua_State *L = tr->L;
    if (L == NULL || !pthread_equal(pthread_self(), tr->owner) || !lua_checkstack(L, 2))
        return sl_clock_now();
    lua_rawgeti(L, LUA_REGISTRYINDEX, tr->clock_ref);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
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

void sl_ltracer_deliver(lua_State *L, l_tracer *tr)
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

void sl_ltracer_run_hooks(lua_State *L, l_tracer *tr, int tr_idx, int kind, int nargs)
{
    int base = lua_gettop(L) - nargs;   /* the span */
    luaL_checkstack(L, nargs + 5, NULL);
    lua_getiuservalue(L, tr_idx, 1);
    lua_rawgeti(L, -1, kind + 1);
    int list = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, list, i) != LUA_TNIL; i++) {
        for (int j = 0; j <= nargs; j++) lua_pushvalue(L, base + j);
        if (lua_pcall(L, nargs + 1, 0, 0) != LUA_OK) {
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
    l_tracer *tr = (l_tracer *)lua_touserdata(L, lua_upvalueindex(1));
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
static int l_tracer_on(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
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

/* ===== OPTIONS ===== */

static void bad_option(lua_State *L, const char *name, const char *expected)
{
    luaL_error(L, "bad option '%s' to 'tracer' (expected %s, got %s)", name, expected,
               lua_type(L, -1) == LUA_TSTRING ? lua_pushfstring(L, "\"%s\"", lua_tostring(L, -1))
                                               : luaL_typename(L, -1));
}

static int opt_choice(lua_State *L, int opts, const char *name, const char *const choices[],
                      const char *expected, int def)
{
    int r = def;
    if (lua_getfield(L, opts, name) != LUA_TNIL) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        for (r = 0; s && choices[r]; r++)
            if (strcmp(choices[r], s) == 0) break;
        if (s == NULL || choices[r] == NULL) bad_option(L, name, expected);
    }
    lua_pop(L, 1);
    return r;
}

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer def, lua_Integer min,
                           const char *expected)
{
    lua_Integer v = def;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        int isint;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < min) bad_option(L, name, expected);
    }
    lua_pop(L, 1);
    return v;
}

static const char *opt_string(lua_State *L, int t, const char *name)
{
    const char *s = NULL;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING) bad_option(L, name, "a string");
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1);   /* the string stays referenced by the options table */
    return s;
}

static const char *const known_options[] = {
    "output", "format", "flush", "service", "host", "limits", "interval", "sample", "seed",
    "clock", "buffer", "meta", "background", "block", NULL
};

static void check_known(lua_State *L, int opts)
{
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; known_options[i]; i++)
                if (strcmp(known_options[i], lua_tostring(L, -2)) == 0) ok = 1;
        if (!ok) {
            lua_pushvalue(L, -2);
            luaL_error(L, "bad option '%s' to 'tracer' (unknown option)", luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    }
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Fills cfg (and tr's own fields) from the options table at 1; pushes
 * nothing. Raises on a bad option. */
static void read_options(lua_State *L, l_tracer *tr, sl_config *cfg)
{
    sl_config_init(cfg);
    cfg->sink = SL_SINK_FD;
    cfg->fd = 2;
    tr->sample = 1.0;
    uint64_t seed = 0;
    if (lua_isnoneornil(L, 1)) goto seed;
    luaL_checktype(L, 1, LUA_TTABLE);
    check_known(L, 1);

    int t = lua_getfield(L, 1, "output");
    if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, ":memory:") == 0) {
            cfg->sink = SL_SINK_MEMORY;
        } else {
            cfg->sink = SL_SINK_PATH;
            cfg->path = s;
        }
    } else if (t == LUA_TNUMBER) {
        int isint;
        lua_Integer fd = lua_tointegerx(L, -1, &isint);
        if (!isint || fd < 0 || fd > 0x7fffffff) bad_option(L, "output", "a non-negative integer fd");
        cfg->fd = (int)fd;
    } else if (t == LUA_TFUNCTION) {
        cfg->sink = SL_SINK_CALLBACK;
        cfg->write = write_pending;
        cfg->write_ud = tr;
        lua_pushvalue(L, -1);
        tr->write_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else if (t != LUA_TNIL) {
        luaL_Stream *f = (luaL_Stream *)luaL_testudata(L, -1, LUA_FILEHANDLE);
        if (f == NULL) bad_option(L, "output", "a path, \":memory:\", a file, an fd or a function");
        if (f->closef == NULL || f->f == NULL) bad_option(L, "output", "an open file");
        fflush(f->f);   /* what stdio buffered goes first */
        cfg->fd = fileno(f->f);
    }
    lua_pop(L, 1);

    static const char *const formats[] = {"jsonl", "msgpack", NULL};
    static const char *const flushes[] = {"batch", "always", NULL};
    cfg->format = opt_choice(L, 1, "format", formats, "\"jsonl\" or \"msgpack\"", 0) ? SL_MSGPACK : SL_JSONL;
    cfg->flush = opt_choice(L, 1, "flush", flushes, "\"batch\" or \"always\"", 0) ? SL_FLUSH_ALWAYS
                                                                                  : SL_FLUSH_BATCH;
    cfg->service = opt_string(L, 1, "service");
    cfg->host = opt_string(L, 1, "host");
    cfg->flush_interval_ms = (uint32_t)opt_int(L, 1, "interval", cfg->flush_interval_ms, 0,
                                               "a non-negative integer (ms)");
    cfg->buffer_size = (size_t)opt_int(L, 1, "buffer", (lua_Integer)cfg->buffer_size, 4096,
                                       "an integer >= 4096 (bytes)");
    if (lua_getfield(L, 1, "meta") != LUA_TNIL) cfg->write_meta = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "background") != LUA_TNIL) cfg->background = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "block") != LUA_TNIL) cfg->block_when_full = lua_toboolean(L, -1);
    lua_pop(L, 1);

    if (lua_getfield(L, 1, "limits") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TTABLE) bad_option(L, "limits", "a table");
        int lt = lua_gettop(L);
        cfg->limits.max_attrs = (uint32_t)opt_int(L, lt, "max_attrs", cfg->limits.max_attrs, 0,
                                                  "a non-negative integer");
        cfg->limits.max_value_len = (uint32_t)opt_int(L, lt, "max_value", cfg->limits.max_value_len, 1,
                                                      "a positive integer");
        cfg->limits.max_name_len = (uint32_t)opt_int(L, lt, "max_name", cfg->limits.max_name_len, 1,
                                                     "a positive integer");
    }
    lua_pop(L, 1);

    if (lua_getfield(L, 1, "sample") != LUA_TNIL) {
        lua_Number p = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(p >= 0 && p <= 1)) bad_option(L, "sample", "a number in [0, 1]");
        tr->sample = (double)p;
        tr->sampling = p < 1;
    }
    lua_pop(L, 1);

    seed = (uint64_t)opt_int(L, 1, "seed", 0, LUA_MININTEGER, "an integer");
    cfg->seed = seed;

    if (lua_getfield(L, 1, "clock") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TFUNCTION) bad_option(L, "clock", "a function");
        lua_pushvalue(L, -1);
        tr->clock_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg->clock = lua_clock;
        cfg->clock_ud = tr;
    }
    lua_pop(L, 1);

seed:
    if (seed == 0 && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = sl_clock_now() ^ (uint64_t)(uintptr_t)tr;
    tr->rng[0] = splitmix(&seed);
    tr->rng[1] = splitmix(&seed) | 1;
    /* Lua functions are called on the Lua thread only. */
    if (cfg->sink == SL_SINK_CALLBACK || cfg->sink == SL_SINK_MEMORY || cfg->clock) cfg->background = 0;
}

static void unref_all(lua_State *L, l_tracer *tr)
{
    luaL_unref(L, LUA_REGISTRYINDEX, tr->clock_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, tr->write_ref);
    tr->clock_ref = tr->write_ref = LUA_NOREF;
}

/* core.tracer(opts) -> tracer | nil, message, code */
static int l_tracer_new(lua_State *L)
{
    lua_settop(L, 1);
    l_tracer *tr = (l_tracer *)lua_newuserdatauv(L, sizeof(l_tracer), 1);   /* 2 */
    memset(tr, 0, sizeof *tr);
    tr->st = (l_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
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
    read_options(L, tr, &cfg);
    sl_error err;
    memset(&err, 0, sizeof err);
    tr->sink = cfg.sink;
    tr->t = sl_tracer_open(&cfg, &err);
    if (tr->t == NULL) {
        unref_all(L, tr);
        if (err.code == SL_EIO && err.sys_errno != 0 && cfg.sink == SL_SINK_PATH)
            snprintf(err.message, sizeof err.message, "cannot open '%s': %s", cfg.path,
                     strerror(err.sys_errno));
        return sl_lua_fail_error(L, &err);
    }
    global_add(tr);
    lua_settop(L, 2);
    return 1;
}

/* ===== METHODS ===== */

l_tracer *sl_ltracer_check(lua_State *L, int idx)
{
    l_tracer *tr = (l_tracer *)lua_touserdata(L, idx);
    if (tr == NULL || !lua_getmetatable(L, idx) ||
        !lua_rawequal(L, -1, lua_upvalueindex(UV_TRACER_MT)))
        luaL_typeerror(L, idx, "spanline.tracer");
    lua_pop(L, 1);
    return tr;
}

static int l_tracer_start(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) luaL_typeerror(L, 2, "string");
    size_t len;
    const char *name = lua_tolstring(L, 2, &len);
    int attrs = 0, opts = 0;
    if (lua_gettop(L) > 2) {
        if (!lua_isnoneornil(L, 3)) {
            luaL_checktype(L, 3, LUA_TTABLE);
            attrs = 3;
        }
        if (!lua_isnoneornil(L, 4)) {
            luaL_checktype(L, 4, LUA_TTABLE);
            opts = 4;
        }
    }
    sl_lspan_open(L, tr, 1, name, len, attrs, opts, "start");
    return 1;
}

static int l_tracer_flush(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    if (tr->t == NULL) return sl_lua_fail(L, "tracer is closed", "ECLOSED");
    tr->L = L;
    int rc = sl_tracer_flush(tr->t);
    sl_ltracer_deliver(L, tr);
    if (rc != SL_OK) return sl_lua_fail(L, sl_strerror(rc), rc == SL_EIO ? "EIO" : "EINVAL");
    lua_pushboolean(L, 1);
    return 1;
}

static void tracer_close(lua_State *L, l_tracer *tr)
{
    if (tr->t == NULL) return;
    tr->L = L;
    sl_lspan_abandon_all(L, tr);
    sl_tracer_flush(tr->t);
    if (tr->sink == SL_SINK_MEMORY) {
        size_t len = 0;
        const char *mem = sl_tracer_memory(tr->t, &len);
        free(tr->final);
        tr->final = (char *)malloc(len ? len : 1);
        if (tr->final && len) memcpy(tr->final, mem, len);
        tr->final_len = tr->final ? len : 0;
    }
    global_remove(tr);
    sl_tracer_stats(tr->t, &tr->final_stats);
    sl_tracer_close(tr->t);
    tr->t = NULL;
    sl_ltracer_deliver(L, tr);
    unref_all(L, tr);
}

static int l_tracer_close(lua_State *L)
{
    tracer_close(L, sl_ltracer_check(L, 1));
    return 0;
}

static int l_tracer_gc(lua_State *L)
{
    l_tracer *tr = (l_tracer *)lua_touserdata(L, 1);
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
    l_tracer *tr = sl_ltracer_check(L, 1);
    sl_stats s;
    if (tr->t) sl_tracer_stats(tr->t, &s);
    else s = tr->final_stats;
    lua_createtable(L, 0, 14);
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
    SET("hook_errors", tr->hook_errors);
    SET("unsampled", tr->unsampled);
    SET("output_errors", tr->output_errors);
#undef SET
    lua_pushboolean(L, tr->t == NULL);
    lua_setfield(L, -2, "closed");
    return 1;
}

static int l_tracer_active(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    lua_newtable(L);
    lua_Integer n = 0;
    for (l_span *sp = tr->open; sp; sp = sp->tnext) {
        if (lua_rawgeti(L, lua_upvalueindex(UV_WEAK), sp->slot) == LUA_TNIL) {
            lua_pop(L, 1);  /* being collected */
            continue;
        }
        lua_rawseti(L, -2, ++n);
    }
    /* oldest first */
    for (lua_Integer i = 1, j = n; i < j; i++, j--) {
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -2, j);
        lua_rawseti(L, -3, i);
        lua_rawseti(L, -2, j);
    }
    return 1;
}

static int l_tracer_output(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    if (tr->sink != SL_SINK_MEMORY) return sl_lua_fail(L, "output is not \":memory:\"", "EINVAL");
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
    l_tracer *tr = sl_ltracer_check(L, 1);
    if (tr->sink == SL_SINK_MEMORY && tr->t) {
        sl_tracer_flush(tr->t);
        sl_tracer_memory_clear(tr->t);
    }
    return 0;
}

static int l_tracer_current(lua_State *L)
{
    l_state *st = (l_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    sl_lctx_push_current(L, sl_lctx_get(L, st));
    return 1;
}

static int l_tracer_tostring(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    lua_pushfstring(L, "spanline.tracer (%s)", tr->t ? "open" : "closed");
    return 1;
}

static const luaL_Reg tracer_methods[] = {
    {"start", l_tracer_start},
    {"traced", sl_lspan_traced},
    {"with", sl_lspan_with},
    {"flush", l_tracer_flush},
    {"close", l_tracer_close},
    {"stats", l_tracer_stats},
    {"active", l_tracer_active},
    {"output", l_tracer_output},
    {"clear", l_tracer_clear},
    {"current", l_tracer_current},
    {"on", l_tracer_on},
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
    l_state *st = (l_state *)lua_touserdata(L, 1);
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    f(ud, st->free_slots, st->capfree * sizeof(int), 0);
    f(ud, st->attrs, st->cap_attrs * sizeof(sl_attr), 0);
    f(ud, st->items, st->cap_items * sizeof(sl_attr), 0);
    st->free_slots = NULL;
    st->attrs = st->items = NULL;
    st->nfree = st->capfree = st->cap_attrs = st->cap_items = 0;
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

void sl_lua_open_tracer(lua_State *L)
{
    int m = lua_gettop(L);
    l_state *st = (l_state *)lua_newuserdatauv(L, sizeof(l_state), 0);   /* UV_STATE */
    memset(st, 0, sizeof *st);
    st->next_lane = 1;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    weak_table(L, "v");                      /* UV_WEAK */
    weak_table(L, "k");                      /* UV_CTXS */
    luaL_newmetatable(L, "spanline.span");   /* UV_SPAN_MT */
    lua_newtable(L);                         /* UV_DONE_MT */
    luaL_newmetatable(L, "spanline.tracer"); /* UV_TRACER_MT */
    lua_newtable(L);                         /* UV_CTX_MT */
    l_span *noop = (l_span *)lua_newuserdatauv(L, sizeof(l_span), 0);  /* UV_NOOP */
    memset(noop, 0, sizeof *noop);
    noop->state = LS_NOOP;
    lua_pushvalue(L, m + UV_DONE_MT);
    lua_setmetatable(L, -2);
    int first = m + 1;

    lua_newtable(L);                         /* span methods */
    setfuncs(L, first, sl_lspan_methods);
    for (int mt = UV_SPAN_MT; mt <= UV_DONE_MT; mt++) {
        lua_pushvalue(L, -1);
        lua_setfield(L, m + mt, "__index");
        lua_pushliteral(L, "spanline.span");
        lua_setfield(L, m + mt, "__name");
        lua_pushvalue(L, m + mt);
        setfuncs(L, first, sl_lspan_meta);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_setfield(L, m + UV_DONE_MT, "__gc");
    lua_setfield(L, m, "span_methods");

    lua_newtable(L);                         /* tracer methods */
    setfuncs(L, first, tracer_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, m + UV_TRACER_MT, "__index");
    lua_setfield(L, m, "tracer_methods");
    lua_pushvalue(L, m + UV_TRACER_MT);
    setfuncs(L, first, tracer_meta);
    lua_pop(L, 1);

    lua_pushvalue(L, m + UV_CTX_MT);
    setfuncs(L, first, sl_lctx_meta);
    lua_pop(L, 1);

    lua_pushvalue(L, m);
    setfuncs(L, first, module_funcs);
    setfuncs(L, first, sl_lctx_module);
    lua_pop(L, 1);

    lua_pushvalue(L, m + UV_NOOP);
    lua_setfield(L, m, "noop");
    lua_settop(L, m);
}
