/*
 * lotlp.c: spanline.core's export side: core.otlp{...} (records -> OTLP
 * requests, kept or pushed to a collector: sl_otlp) and core.recoder(format)
 * (records -> JSONL or MessagePack by the tracer's own encoders).
 *
 * Key idea: Lua only moves bytes; records go from a core reader (or a
 * string of records) into the core in C, a bounded number per call, so a
 * file of any size streams through in memory bounded by its open spans.
 */
#include <stdlib.h>
#include <string.h>

#include "lbinding.h"

#define OTLP_MT "spanline.otlp"
#define RECODER_MT "spanline.recoder"

typedef struct lotlp {
    sl_otlp *x;
} lotlp;

static lotlp *check_otlp(lua_State *L)
{
    lotlp *o = luaL_checkudata(L, 1, OTLP_MT);
    if (!o->x) luaL_argerror(L, 1, "closed");
    return o;
}

static lua_Integer opt_int(lua_State *L, int t, const char *name, lua_Integer min)
{
    lua_getfield(L, t, name);
    lua_Integer v = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (v && v < min) luaL_error(L, "bad option '%s' (must be >= %d)", name, (int)min);
    return v;
}

/* core.otlp{format = "json"|"proto", include_open, service, batch,
 *           endpoint, headers = {"Name: value", ...}, queue, delay_ms, timeout_ms}
 * -> exporter | nil, message, code */
static int l_otlp(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sl_otlp_opts o;
    memset(&o, 0, sizeof o);
    lua_getfield(L, 1, "format");
    const char *f = luaL_optstring(L, -1, "proto");
    if (strcmp(f, "json") != 0 && strcmp(f, "proto") != 0)
        luaL_error(L, "bad option 'format' (\"json\" or \"proto\" expected)");
    o.json = strcmp(f, "json") == 0;
    lua_getfield(L, 1, "include_open");
    o.include_open = lua_toboolean(L, -1);
    lua_getfield(L, 1, "service");
    o.service = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 1, "endpoint");
    o.endpoint = luaL_optstring(L, -1, NULL);
    int n = 0;
    if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
        for (lua_Integer i = 1; lua_rawgeti(L, -1 - 2 * n, i) == LUA_TSTRING; i++, n++)
            lua_pushliteral(L, "\n");
        lua_pop(L, 1);   /* the nil that ended the list */
    }
    lua_concat(L, 2 * n);   /* the "Name: value\n" lines (n = 0: "") */
    o.headers = lua_tostring(L, -1);
    o.batch_spans = (size_t)opt_int(L, 1, "batch", 1);
    o.queue_spans = (size_t)opt_int(L, 1, "queue", 1);
    o.batch_delay_ms = (uint32_t)opt_int(L, 1, "delay_ms", 1);
    o.timeout_ms = (uint32_t)opt_int(L, 1, "timeout_ms", 1);
    lotlp *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->x = NULL;
    luaL_setmetatable(L, OTLP_MT);
    sl_error err;
    if (!(u->x = sl_otlp_open(&o, &err))) return lsl_fail_error(L, &err);
    return 1;
}

/* x:feed(reader, max) -> "more" | "again" | "eof", records read, of them not meta
 * x:feed(records string) -> "more", 0 */
static int l_otlp_feed(lua_State *L)
{
    lotlp *o = check_otlp(L);
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, 2, &len);
        if (sl_otlp_bytes(o->x, s, len) == SL_ENOMEM) return luaL_error(L, "not enough memory");
        lua_pushliteral(L, "more");
        lua_pushinteger(L, 0);
        return 2;
    }
    lreader *lr = lsl_reader_check(L, 2);
    lua_Integer max = luaL_optinteger(L, 3, 4096), n = 0, spans = 0;
    const char *status = "more";
    sl_record rec;
    while (n < max) {
        int rc = sl_reader_next(lr->r, &rec);
        if (rc == SL_EOF || rc == SL_EAGAIN) {
            status = rc == SL_EOF ? "eof" : "again";
            break;
        }
        if (rc != SL_OK) return lsl_fail(L, "read error", "EIO");
        n++;
        spans += rec.type != SL_REC_META;
        rc = sl_otlp_record(o->x, &rec);
        if (rc == SL_ENOMEM) return luaL_error(L, "not enough memory");
        if (rc == SL_ESTATE) return luaL_error(L, "feed after finish");
    }
    lua_pushstring(L, status);
    lua_pushinteger(L, n);
    lua_pushinteger(L, spans);
    return 3;
}

/* x:finish(): end of input; open spans go out (include_open) or are dropped. */
static int l_otlp_finish(lua_State *L)
{
    if (sl_otlp_finish(check_otlp(L)->x) == SL_ENOMEM) return luaL_error(L, "not enough memory");
    return 0;
}

/* x:take() -> the requests finished so far (one string), or nil */
static int l_otlp_take(lua_State *L)
{
    size_t len;
    const char *s = sl_otlp_output(check_otlp(L)->x, &len);
    if (!s) return 0;
    lua_pushlstring(L, s, len);
    return 1;
}

/* x:drain(ms) -> true when nothing is left to send */
static int l_otlp_drain(lua_State *L)
{
    lotlp *o = check_otlp(L);
    lua_Integer ms = luaL_checkinteger(L, 2);
    lua_pushboolean(L, sl_otlp_drain(o->x, (uint32_t)(ms < 0 ? 0 : ms > 86400000 ? 86400000 : ms)) == SL_OK);
    return 1;
}

/* x:stats() -> {spans, sent, dropped, rejected, queued, requests, retries, last_status,
 * dropped_open, bad} */
static int l_otlp_stats(lua_State *L)
{
    sl_export_stats st;
    sl_otlp_stats(check_otlp(L)->x, &st);
    lua_createtable(L, 0, 10);
#define SET(name, v) (lua_pushinteger(L, (lua_Integer)(v)), lua_setfield(L, -2, name))
    SET("spans", st.spans);
    SET("sent", st.spans_sent);
    SET("dropped", st.spans_dropped);
    SET("rejected", st.spans_rejected);
    SET("queued", st.spans_queued);
    SET("requests", st.requests);
    SET("retries", st.retries);
    SET("last_status", st.last_status);
    SET("dropped_open", st.open_dropped);
    SET("bad", st.bad);
#undef SET
    return 1;
}

static int l_otlp_close(lua_State *L)
{
    lotlp *o = luaL_checkudata(L, 1, OTLP_MT);
    sl_otlp_close(o->x, 0);
    o->x = NULL;
    return 0;
}

static const luaL_Reg otlp_methods[] = {
    {"feed", l_otlp_feed},
    {"finish", l_otlp_finish},
    {"take", l_otlp_take},
    {"drain", l_otlp_drain},
    {"stats", l_otlp_stats},
    {"close", l_otlp_close},
    {NULL, NULL}
};

/* ===== RECODER ===== */

typedef struct lrecoder {
    sl_recoder *rc;
} lrecoder;

/* core.recoder("jsonl" | "msgpack") -> recoder */
static int l_recoder(lua_State *L)
{
    static const char *const formats[] = {"jsonl", "msgpack", NULL};
    int f = luaL_checkoption(L, 1, NULL, formats);
    lrecoder *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->rc = NULL;
    luaL_setmetatable(L, RECODER_MT);
    sl_error err;
    if (!(u->rc = sl_recoder_open(f == 1 ? SL_MSGPACK : SL_JSONL, &err))) return lsl_fail_error(L, &err);
    return 1;
}

/* recoder:recode(reader, max) -> bytes, "more" | "again" | "eof", records skipped */
static int l_recoder_recode(lua_State *L)
{
    lrecoder *u = luaL_checkudata(L, 1, RECODER_MT);
    lreader *lr = lsl_reader_check(L, 2);
    lua_Integer max = luaL_optinteger(L, 3, 4096), skipped = 0;
    const char *status = "more";
    sl_record rec;
    for (lua_Integer i = 0; i < max; i++) {
        int r = sl_reader_next(lr->r, &rec);
        if (r == SL_EOF || r == SL_EAGAIN) {
            status = r == SL_EOF ? "eof" : "again";
            break;
        }
        if (r != SL_OK) return lsl_fail(L, "read error", "EIO");
        r = sl_recoder_record(u->rc, &rec);
        if (r == SL_ENOMEM) return luaL_error(L, "not enough memory");
        if (r != SL_OK) skipped++;
    }
    size_t len;
    const char *s = sl_recoder_output(u->rc, &len);
    lua_pushlstring(L, s, len);
    lua_pushstring(L, status);
    lua_pushinteger(L, skipped);
    return 3;
}

static int l_recoder_gc(lua_State *L)
{
    lrecoder *u = luaL_checkudata(L, 1, RECODER_MT);
    sl_recoder_close(u->rc);
    u->rc = NULL;
    return 0;
}

static const luaL_Reg recoder_methods[] = {
    {"recode", l_recoder_recode},
    {NULL, NULL}
};

static const luaL_Reg otlp_funcs[] = {
    {"otlp", l_otlp},
    {"recoder", l_recoder},
    {NULL, NULL}
};

void lsl_open_otlp(lua_State *L)
{
    lsl_new_class(L, OTLP_MT, otlp_methods, l_otlp_close);
    lsl_new_class(L, RECODER_MT, recoder_methods, l_recoder_gc);
    luaL_setfuncs(L, otlp_funcs, 0);
}
