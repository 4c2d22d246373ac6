/*
 * lutil.c: small functions of spanline.core that need no tracer: the clock,
 * W3C traceparent parse/format, and fresh ids (for tests and tools).
 *
 * Ids and timestamps cross into Lua as hex strings and integers only, never
 * as doubles (design.md §2).
 */
#include <string.h>
#include <time.h>

#include "lbinding.h"

/* core.now() -> integer ns since the Unix epoch */
static int l_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sl_clock_now());
    return 1;
}

/* core.thread_cpu_ns() -> CPU time of the calling thread in ns (benchmarks:
 * less disturbed by other processes than wall time) */
static int l_thread_cpu_ns(lua_State *L)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
    return 1;
}

/* core.traceparent_parse(s) -> {trace, span, flags, sampled} | nil, msg, "EPARSE" */
static int l_traceparent_parse(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    sl_context c;
    if (sl_traceparent_parse(s, len, &c) != SL_OK)
        return lsl_fail(L, lua_pushfstring(L, "invalid traceparent '%s'", s), "EPARSE");
    char hex[33];
    lua_createtable(L, 0, 4);
    sl_id_to_hex(&c.trace, hex);
    lua_pushlstring(L, hex, 32);
    lua_setfield(L, -2, "trace");
    sl_id_to_hex(&c.span, hex);
    lua_pushlstring(L, hex + 16, 16);
    lua_setfield(L, -2, "span");
    lua_pushinteger(L, c.flags);
    lua_setfield(L, -2, "flags");
    lua_pushboolean(L, c.flags & 1);
    lua_setfield(L, -2, "sampled");
    return 1;
}

/* core.traceparent_format(trace_hex32, span_hex16_or_32, flags?) -> string */
static int l_traceparent_format(lua_State *L)
{
    size_t tlen, slen;
    const char *trace = luaL_checklstring(L, 1, &tlen);
    const char *span = luaL_checklstring(L, 2, &slen);
    lua_Integer flags = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, flags >= 0 && flags <= 255, 3, "flags must be in [0, 255]");
    sl_context c;
    memset(&c, 0, sizeof c);
    luaL_argcheck(L, tlen == 32 && sl_id_from_hex(trace, tlen, &c.trace) == SL_OK, 1,
                  "32 hex digits expected");
    if (slen == 32) span += 16, slen = 16;
    luaL_argcheck(L, slen == 16 && sl_id_from_hex(span, slen, &c.span) == SL_OK, 2,
                  "16 or 32 hex digits expected");
    c.flags = (uint8_t)flags;
    c.remote = 1;
    char out[SL_TRACEPARENT_LEN + 1];
    sl_traceparent_format(&c, out);
    lua_pushlstring(L, out, SL_TRACEPARENT_LEN);
    return 1;
}

/* core.new_id() -> 32 hex digits (a process-wide generator, per thread) */
static int l_new_id(lua_State *L)
{
    static _Thread_local sl_idgen gen;
    static _Thread_local int ready;
    if (!ready) {
        sl_idgen_init(&gen, 0);
        ready = 1;
    }
    sl_id id;
    char hex[33];
    sl_idgen_next(&gen, sl_clock_now(), &id);
    sl_id_to_hex(&id, hex);
    lua_pushlstring(L, hex, 32);
    return 1;
}

static const luaL_Reg util_funcs[] = {
    {"now", l_now},
    {"thread_cpu_ns", l_thread_cpu_ns},
    {"traceparent_parse", l_traceparent_parse},
    {"traceparent_format", l_traceparent_format},
    {"new_id", l_new_id},
    {NULL, NULL}
};

void lsl_open_util(lua_State *L)
{
    luaL_setfuncs(L, util_funcs, 0);
}
