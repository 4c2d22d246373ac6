/*
 * loptions.c: the options table of spanline.tracer{...} -> sl_config.
 *
 * Key idea: every option is checked here, once, and a bad one raises an
 * error naming it (`bad option 'format' to 'tracer' (expected ...)`); an
 * unknown key is an error too, so a typo never silently means a default.
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

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

/* A size: bytes as an integer, or "16MB" / "512KB" / "1GB" (K, M, G are
 * powers of 1024, with or without B or iB). 0 when it is not one. */
static size_t opt_size_value(lua_State *L)
{
    if (lua_type(L, -1) == LUA_TNUMBER) {
        int isint;
        lua_Integer n = lua_tointegerx(L, -1, &isint);
        return isint && n > 0 ? (size_t)n : 0;
    }
    if (lua_type(L, -1) != LUA_TSTRING) return 0;
    const char *s = lua_tostring(L, -1);
    char *end;
    double v = strtod(s, &end);
    static const char *const units[] = {"", "B", "K", "KB", "KiB", "M", "MB", "MiB", "G", "GB", "GiB", NULL};
    static const double scale[] = {1, 1, 1024, 1024, 1024, 1048576, 1048576, 1048576,
                                   1073741824.0, 1073741824.0, 1073741824.0};
    for (int i = 0; units[i]; i++)
        if (end != s && strcmp(end, units[i]) == 0 && v > 0 && v * scale[i] < 1e15) return (size_t)(v * scale[i]);
    return 0;
}

static const char *const known_options[] = {
    "output", "format", "flush", "service", "host", "limits", "interval", "sample", "seed",
    "clock", "buffer", "meta", "background", "block", "ring", "crash", "hidden", NULL
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

/* Fills cfg (and tr's own fields) from the options table at 1; pushes
 * nothing. Raises on a bad option. */
void lsl_tracer_options(lua_State *L, lsl_tracer *tr, sl_config *cfg)
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
        } else if (strncmp(s, "otlp+", 5) == 0) {
            cfg->sink = SL_SINK_OTLP;   /* an OpenTelemetry collector (core/src/otlp_sink.c) */
            cfg->path = s;
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
        cfg->write = lsl_tracer_write_pending;
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
    /* hidden: an observer's tracer (spanline run): its spans are never
     * spanline.current(), so the traced program cannot see them */
    if (lua_getfield(L, 1, "hidden") != LUA_TNIL) tr->hidden = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "ring") != LUA_TNIL) {
        cfg->recorder_size = opt_size_value(L);
        if (cfg->recorder_size < 4096) bad_option(L, "ring", "a size of at least 4096 bytes (\"16MB\")");
        if (cfg->sink != SL_SINK_PATH && cfg->sink != SL_SINK_FD) bad_option(L, "ring", "an output path or fd");
    }
    lua_pop(L, 1);
    /* process-wide and opt-in: fatal signals write what is buffered first */
    if (lua_getfield(L, 1, "crash") != LUA_TNIL && lua_toboolean(L, -1)) sl_crash_handler_install();
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
    tr->sorted = seed != 0;

    if (lua_getfield(L, 1, "clock") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TFUNCTION) bad_option(L, "clock", "a function");
        lua_pushvalue(L, -1);
        tr->clock_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        cfg->clock = lsl_tracer_clock;
        cfg->clock_ud = tr;
    }
    lua_pop(L, 1);

seed:
    /* Lua functions are called on the Lua thread only. */
    if (cfg->sink == SL_SINK_CALLBACK || cfg->sink == SL_SINK_MEMORY || cfg->clock) cfg->background = 0;
}

