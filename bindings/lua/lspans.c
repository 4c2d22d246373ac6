/*
 * lspans.c: core.span_stream(reader, opts): spans assembled in C from a
 * reader, for the streaming commands (filter, report).
 *
 * Key idea: next() fills and returns ONE reused table with only the fields
 * asked for, so a streaming command allocates nothing per span.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbinding.h"
#include "reader_internal.h"

/* core.span_stream(reader, {fields = {...}, raw = bool}) -> stream;
 * stream:next() fills and returns ONE reused table (only the fields asked
 * for), nil at EOF, false when following and no data yet. */
#define STREAM_MT "spanline.span_stream"

enum {
    F_ID, F_TRACE, F_PARENT, F_NAME, F_START, F_FINISH, F_DUR, F_STATUS, F_ERROR, F_ATTRS,
    F_LANE, F_DEPTH, F_SELF, F_ORPHAN, F_REMOTE, F_LINE, F_NEVENTS, F_COUNT
};
static const char *const FIELD_NAMES[F_COUNT] = {
    "id", "trace", "parent", "name", "start", "finish", "dur", "status", "error", "attrs",
    "lane", "depth", "self", "orphan", "remote_parent", "line", "nevents",
};

typedef struct lstream {
    sl_spanner *sp;
    const sl_aspan *cur;
    unsigned fields;
    int table_ref;
} lstream;

static lstream *check_stream(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    if (!st->sp) luaL_argerror(L, 1, "span stream is closed");
    return st;
}

static int l_span_stream(lua_State *L)
{
    lreader *lr = lsl_reader_check(L, 1);
    unsigned fields = 0;
    int raw = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "raw");
        raw = lua_toboolean(L, -1);
        lua_getfield(L, 2, "fields");
        if (lua_istable(L, -1)) {
            for (lua_Integer i = 1;; i++) {
                if (lua_rawgeti(L, -1, i) == LUA_TNIL) {
                    lua_pop(L, 1);
                    break;
                }
                const char *f = lua_tostring(L, -1);
                int found = 0;
                for (int k = 0; f && k < F_COUNT; k++)
                    if (strcmp(f, FIELD_NAMES[k]) == 0) { fields |= 1u << k; found = 1; }
                if (!found) return luaL_error(L, "span_stream: unknown field '%s'", f ? f : "?");
                lua_pop(L, 1);
            }
        } else {
            fields = (1u << F_COUNT) - 1;
        }
        lua_pop(L, 2);
    } else {
        fields = (1u << F_COUNT) - 1;
    }
    lstream *st = lua_newuserdatauv(L, sizeof *st, 1);
    memset(st, 0, sizeof *st);
    st->table_ref = LUA_NOREF;
    luaL_setmetatable(L, STREAM_MT);
    st->sp = sl_spanner_new(lr->r, raw);
    if (!st->sp) return luaL_error(L, "out of memory");
    sl_spanner_keep_attrs(st->sp, (fields & (1u << F_ATTRS)) != 0);
    st->fields = fields;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);  /* the reader outlives the stream */
    lua_createtable(L, 0, F_COUNT);
    st->table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
}

static void push_attrs(lua_State *L, const sl_aspan *a)
{
    lua_newtable(L);
    if (a->attrs.len == 0) return;
    int t = lua_gettop(L);
    /* cjson.safe.decode, looked up once and kept in the registry. */
    if (lua_getfield(L, LUA_REGISTRYINDEX, "spanline.cjson_decode") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushliteral(L, "cjson.safe");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "decode");
        lua_remove(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "spanline.cjson_decode");
    }
    int dec = lua_gettop(L);
    const char *p = a->attrs.ptr, *e = p + a->attrs.len;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl) nl = e;
        lua_pushvalue(L, dec);
        lua_pushlstring(L, p, (size_t)(nl - p));
        lua_call(L, 1, 1);
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_settable(L, t);
            }
        }
        lua_pop(L, 1);
        p = nl + 1;
    }
    lua_settop(L, t);
}

/* Pushes the reused span table filled from a. */
static void push_span(lua_State *L, lstream *st, const sl_aspan *a)
{
    unsigned fl = st->fields;
    char hex[33];
    lua_rawgeti(L, LUA_REGISTRYINDEX, st->table_ref);
    if (fl & (1u << F_ID)) {
        sl_reader_hex(a->id.bytes, 16, hex);
        lua_pushlstring(L, hex, 32);
        lua_setfield(L, -2, "id");
    }
    if (fl & (1u << F_TRACE)) {
        sl_reader_hex(a->trace.bytes, 16, hex);
        if (a->has_trace) lua_pushlstring(L, hex, 32); else lua_pushnil(L);
        lua_setfield(L, -2, "trace");
    }
    if (fl & (1u << F_PARENT)) {
        if (!a->has_parent) lua_pushnil(L);
        else if (a->parent_short) { sl_reader_hex(a->parent.bytes + 8, 8, hex); lua_pushlstring(L, hex, 16); }
        else { sl_reader_hex(a->parent.bytes, 16, hex); lua_pushlstring(L, hex, 32); }
        lua_setfield(L, -2, "parent");
    }
#define WANT(f) (fl & (1u << (f)))
    if (WANT(F_NAME)) {
        if (a->has_start) lua_pushlstring(L, a->text.ptr + a->name_off, a->name_len); else lua_pushnil(L);
        lua_setfield(L, -2, "name");
    }
    if (WANT(F_START)) {
        if (a->has_start) lua_pushinteger(L, (lua_Integer)a->start); else lua_pushnil(L);
        lua_setfield(L, -2, "start");
    }
    if (WANT(F_FINISH)) {
        if (a->ended) lua_pushinteger(L, (lua_Integer)a->finish); else lua_pushnil(L);
        lua_setfield(L, -2, "finish");
    }
    if (WANT(F_DUR)) {
        if (a->ended && a->has_start) lua_pushinteger(L, (lua_Integer)(a->finish - a->start)); else lua_pushnil(L);
        lua_setfield(L, -2, "dur");
    }
    if (WANT(F_STATUS)) {
        if (a->ended) lua_pushlstring(L, a->text.ptr + a->status_off, a->status_len); else lua_pushliteral(L, "open");
        lua_setfield(L, -2, "status");
    }
    if (WANT(F_ERROR)) {
        if (a->has_error) lua_pushlstring(L, a->text.ptr + a->error_off, a->error_len); else lua_pushnil(L);
        lua_setfield(L, -2, "error");
    }
    if (WANT(F_ATTRS)) {
        push_attrs(L, a);
        lua_setfield(L, -2, "attrs");
    }
    if (WANT(F_LANE)) {
        lua_pushinteger(L, a->lane);
        lua_setfield(L, -2, "lane");
    }
    if (WANT(F_DEPTH)) {
        lua_pushinteger(L, a->depth);
        lua_setfield(L, -2, "depth");
    }
    if (WANT(F_SELF)) {
        if (a->self >= 0) lua_pushinteger(L, a->self); else lua_pushnil(L);
        lua_setfield(L, -2, "self");
    }
    if (WANT(F_ORPHAN)) {
        lua_pushboolean(L, a->orphan);
        lua_setfield(L, -2, "orphan");
    }
    if (WANT(F_REMOTE)) {
        lua_pushboolean(L, a->parent_short);
        lua_setfield(L, -2, "remote_parent");
    }
    if (WANT(F_LINE)) {
        lua_pushinteger(L, (lua_Integer)a->line);
        lua_setfield(L, -2, "line");
    }
    if (WANT(F_NEVENTS)) {
        lua_pushinteger(L, a->nevents);
        lua_setfield(L, -2, "nevents");
    }
#undef WANT
}

static int stream_fail(lua_State *L, int rc)
{
    lua_getiuservalue(L, 1, 1);   /* the reader (arg 1 is the stream) */
    lreader *lr = luaL_testudata(L, -1, LSL_READER_MT);
    if (lr) return lsl_reader_fail(L, lr, rc);
    return lsl_fail(L, rc == SL_ENOMEM ? "out of memory" : "read error", rc == SL_ENOMEM ? "ENOMEM" : "EIO");
}

static int l_stream_next(lua_State *L)
{
    lstream *st = check_stream(L);
    const sl_aspan *a;
    int rc = sl_spanner_next(st->sp, &a);
    st->cur = NULL;
    if (rc == SL_EOF) {
        lua_pushnil(L);
        return 1;
    }
    if (rc == SL_EAGAIN) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (rc != SL_OK) return stream_fail(L, rc);
    st->cur = a;
    push_span(L, st, a);
    return 1;
}

/* stream:filter(pred, file [, limit]) -> matched, failures, first_failure, spans
 * The filter loop in C: pred(span) for every span (a failing call counts as
 * no match), the records of matching spans written to file, preceded by the
 * stream's meta line (or a minimal one) before the first match. Stops at
 * EOF, or when no data is left in follow mode. */
static int l_stream_filter(lua_State *L)
{
    lstream *st = check_stream(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_Stream *f = luaL_checkudata(L, 3, LUA_FILEHANDLE);
    if (!f->closef) return luaL_argerror(L, 3, "file is closed");
    lua_Integer limit = luaL_optinteger(L, 4, -1);
    lua_Integer matched = 0, failures = 0, seen = 0;
    int first_failure = 0;
    lua_settop(L, 3);
    lua_pushnil(L);  /* 4: the first failure message */
    while (limit < 0 || matched < limit) {
        const sl_aspan *a;
        int rc = sl_spanner_next(st->sp, &a);
        st->cur = NULL;
        if (rc == SL_EOF || rc == SL_EAGAIN) break;
        if (rc != SL_OK) return stream_fail(L, rc);
        st->cur = a;
        seen++;
        lua_pushvalue(L, 2);
        push_span(L, st, a);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            failures++;
            if (!first_failure) {
                first_failure = 1;
                lua_replace(L, 4);
            } else {
                lua_pop(L, 1);
            }
            continue;
        }
        int yes = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (yes) {
            if (matched++ == 0) {
                size_t n;
                const char *m = sl_spanner_meta(st->sp, &n);
                if (!m) {
                    m = "{\"type\":\"meta\",\"format\":\"" SL_FORMAT_NAME "\"}";
                    n = strlen(m);
                }
                if (fwrite(m, 1, n, f->f) != n || fputc('\n', f->f) == EOF)
                    return lsl_fail(L, "write error", "EIO");
            }
            if (a->raw.len && fwrite(a->raw.ptr, 1, a->raw.len, f->f) != a->raw.len)
                return lsl_fail(L, "write error", "EIO");
        }
    }
    lua_pushinteger(L, matched);
    lua_pushinteger(L, failures);
    lua_pushvalue(L, 4);
    lua_pushinteger(L, seen);
    return 4;
}

/* stream:write_raw(file): the records of the span last returned, as
 * spanline/1 lines, to a Lua file handle. */
static int l_stream_write_raw(lua_State *L)
{
    lstream *st = check_stream(L);
    luaL_Stream *f = luaL_checkudata(L, 2, LUA_FILEHANDLE);
    if (!f->closef) return luaL_argerror(L, 2, "file is closed");
    if (st->cur && st->cur->raw.len) {
        if (fwrite(st->cur->raw.ptr, 1, st->cur->raw.len, f->f) != st->cur->raw.len)
            return lsl_fail(L, "write error", "EIO");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* stream:raw() -> the records of the span last returned (string). */
static int l_stream_raw(lua_State *L)
{
    lstream *st = check_stream(L);
    if (!st->cur) return 0;
    lua_pushlstring(L, st->cur->raw.ptr ? st->cur->raw.ptr : "", st->cur->raw.len);
    return 1;
}

/* stream:meta() -> the stream's first meta record as a line, or nil. */
static int l_stream_meta(lua_State *L)
{
    lstream *st = check_stream(L);
    size_t n;
    const char *m = sl_spanner_meta(st->sp, &n);
    if (!m) return 0;
    lua_pushlstring(L, m, n);
    return 1;
}

static int l_stream_close(lua_State *L)
{
    lstream *st = luaL_checkudata(L, 1, STREAM_MT);
    if (st->sp) sl_spanner_free(st->sp);
    st->sp = NULL;
    st->cur = NULL;
    if (st->table_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, st->table_ref);
    st->table_ref = LUA_NOREF;
    return 0;
}

static const luaL_Reg stream_methods[] = {
    { "next", l_stream_next },
    { "write_raw", l_stream_write_raw },
    { "filter", l_stream_filter },
    { "raw", l_stream_raw },
    { "meta", l_stream_meta },
    { "close", l_stream_close },
    { NULL, NULL }
};


static const luaL_Reg stream_funcs[] = {
    { "span_stream", l_span_stream },
    { NULL, NULL }
};

void lsl_open_spans(lua_State *L)
{
    lsl_new_class(L, STREAM_MT, stream_methods, l_stream_close);
    luaL_setfuncs(L, stream_funcs, 0);
}
