/*
 * lreader.c: core.reader(path | fd | "-", opts) and core.reader_string(s).
 *
 * Key idea: a record becomes one Lua table with integer ts and hex ids (never
 * through a double); attrs stay JSON text (`attrs_json`) and are decoded by
 * lua-cjson only when `rec.attrs` is first read (a shared __index).
 */
#include <stdlib.h>
#include <string.h>

#include <lualib.h>
#include <stdio.h>

#include "lbinding.h"

#define READER_MT LSL_READER_MT
#define RECORD_MT "spanline.record"


lreader *lsl_reader_check(lua_State *L, int idx)
{
    lreader *lr = luaL_checkudata(L, idx, READER_MT);
    if (!lr->r) luaL_argerror(L, idx, "reader is closed");
    return lr;
}

static void read_opts(lua_State *L, int idx, sl_reader_opts *o, int *raw)
{
    memset(o, 0, sizeof *o);
    *raw = 0;
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "follow");
    o->follow = lua_toboolean(L, -1);
    lua_getfield(L, idx, "max_line");
    if (!lua_isnil(L, -1)) {
        lua_Integer n = luaL_checkinteger(L, -1);
        if (n <= 0) luaL_argerror(L, idx, "max_line must be positive");
        o->max_line = (size_t)n;
    }
    lua_getfield(L, idx, "max_garbage");
    if (!lua_isnil(L, -1)) {
        lua_Integer n = luaL_checkinteger(L, -1);
        if (n <= 0) luaL_argerror(L, idx, "max_garbage must be positive");
        o->max_garbage = (size_t)n;
    }
    lua_getfield(L, idx, "raw");
    *raw = lua_toboolean(L, -1);
    lua_pop(L, 4);
}

static lreader *new_reader(lua_State *L)
{
    lreader *lr = lua_newuserdatauv(L, sizeof *lr, 1);
    lr->r = NULL;
    lr->raw = 0;
    lr->string_ref = 0;
    luaL_setmetatable(L, READER_MT);
    return lr;
}

/* core.reader(path | fd | "-", {follow=, max_line=, raw=}) -> reader | nil, msg, code */
static int l_reader(lua_State *L)
{
    sl_reader_opts o;
    sl_error err;
    int raw;
    memset(&err, 0, sizeof err);
    read_opts(L, 2, &o, &raw);
    sl_reader *r;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        lua_Integer fd = luaL_checkinteger(L, 1);
        r = sl_reader_open_fd((int)fd, &o, &err);
    } else if (lua_type(L, 1) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 1);
        r = strcmp(path, "-") == 0 ? sl_reader_open_fd(0, &o, &err) : sl_reader_open_path(path, &o, &err);
    } else {
        return luaL_typeerror(L, 1, "string or integer");
    }
    if (!r) return lsl_fail_error(L, &err);
    lreader *lr = new_reader(L);
    lr->r = r;
    lr->raw = raw;
    return 1;
}

/* core.reader_string(bytes, opts) -> reader: reads a Lua string in place. */
static int l_reader_string(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    sl_reader_opts o;
    sl_error err;
    int raw;
    memset(&err, 0, sizeof err);
    read_opts(L, 2, &o, &raw);
    sl_reader *r = sl_reader_open_mem(s, len, &o, &err);
    if (!r) return lsl_fail_error(L, &err);
    lreader *lr = new_reader(L);
    lr->r = r;
    lr->raw = raw;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);  /* keep the bytes alive */
    return 1;
}

static void set_str(lua_State *L, const char *k, const char *s, size_t n)
{
    if (!s) return;
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, k);
}

void lsl_push_id(lua_State *L, const sl_id *id, int is_short)
{
    char hex[33];
    sl_id_to_hex(id, hex);
    lua_pushlstring(L, is_short ? hex + 16 : hex, is_short ? 16 : 32);
}

static void set_id(lua_State *L, const char *k, const sl_id *id, int is_short)
{
    lsl_push_id(L, id, is_short);
    lua_setfield(L, -2, k);
}

static const char *const TYPES[] = { "meta", "start", "event", "attr", "end" };

static void push_record(lua_State *L, const sl_record *rec, int raw)
{
    lua_createtable(L, 0, 12);
    lua_pushstring(L, TYPES[rec->type]);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)rec->line);
    lua_setfield(L, -2, "line");
    if (rec->ts) {
        lua_pushinteger(L, (lua_Integer)rec->ts);
        lua_setfield(L, -2, "ts");
    }
    if (rec->type == SL_REC_META) {
        set_str(L, "format", rec->format, rec->format_len);
        set_str(L, "service", rec->service, rec->service_len);
        set_str(L, "host", rec->host, rec->host_len);
        if (rec->pid) {
            lua_pushinteger(L, rec->pid);
            lua_setfield(L, -2, "pid");
        }
    } else {
        set_id(L, "id", &rec->id, 0);
        if (rec->has_trace) set_id(L, "trace", &rec->trace, 0);
        if (rec->has_parent) {
            set_id(L, "parent", &rec->parent, rec->parent_short);
            if (rec->parent_short) {
                lua_pushboolean(L, 1);
                lua_setfield(L, -2, "parent_short");
            }
        }
        if (rec->lane) {
            lua_pushinteger(L, rec->lane);
            lua_setfield(L, -2, "lane");
        }
        set_str(L, "name", rec->name, rec->name_len);
        set_str(L, "status", rec->status, rec->status_len);
        set_str(L, "error", rec->error, rec->error_len);
        set_str(L, "attrs_json", rec->attrs_json, rec->attrs_len);
    }
    if (raw) {
        set_str(L, "raw", rec->raw, rec->raw_len);
        if (!rec->raw_spanline) {
            lua_pushboolean(L, 1);  /* raw is not a spanline/1 line: re-encode it */
            lua_setfield(L, -2, "foreign");
        }
    }
    luaL_setmetatable(L, RECORD_MT);
}

/* reader:next() -> record | nil (EOF) | false (follow: no data yet) | nil, msg, code */
static int l_next(lua_State *L)
{
    lreader *lr = lsl_reader_check(L, 1);
    sl_record rec;
    int rc = sl_reader_next(lr->r, &rec);
    if (rc == SL_OK) {
        push_record(L, &rec, lr->raw);
        return 1;
    }
    if (rc == SL_EOF) {
        lua_pushnil(L);
        return 1;
    }
    if (rc == SL_EAGAIN) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return lsl_reader_fail(L, lr, rc);
}

int lsl_reader_fail(lua_State *L, lreader *lr, int rc)
{
    const char *why = lr->r ? sl_reader_error(lr->r) : NULL;
    if (rc == SL_ENOMEM) return lsl_fail(L, "out of memory", "ENOMEM");
    return lsl_fail(L, why ? why : "read error", rc == SL_EPARSE ? "EPARSE" : "EIO");
}

/* reader:bad_lines() -> count, {first line numbers} */
static int l_bad_lines(lua_State *L)
{
    lreader *lr = lsl_reader_check(L, 1);
    uint64_t lines[64];
    uint64_t n = sl_reader_bad_lines(lr->r, lines, 64);
    lua_pushinteger(L, (lua_Integer)n);
    size_t kept = n < 64 ? (size_t)n : 64;
    lua_createtable(L, (int)kept, 0);
    for (size_t i = 0; i < kept; i++) {
        lua_pushinteger(L, (lua_Integer)lines[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

/* reader:offset() -> bytes consumed */
static int l_offset(lua_State *L)
{
    lreader *lr = lsl_reader_check(L, 1);
    lua_pushinteger(L, (lua_Integer)sl_reader_offset(lr->r));
    return 1;
}

static int l_close(lua_State *L)
{
    lreader *lr = luaL_checkudata(L, 1, READER_MT);
    if (lr->r) sl_reader_close(lr->r);
    lr->r = NULL;
    return 0;
}

/* A record table (as next() returns it, or built by hand) at idx as an
 * sl_record whose strings point into the table's strings (valid while the
 * table holds them). Raises naming argument arg when the type or id is bad. */
void lsl_record_from_table(lua_State *L, int idx, int arg, sl_record *rec)
{
    idx = lua_absindex(L, idx);
    memset(rec, 0, sizeof *rec);
    lua_getfield(L, idx, "type");
    const char *type = lua_tostring(L, -1);
    int t = -1;
    for (int i = 0; type && i < 5; i++) if (strcmp(type, TYPES[i]) == 0) t = i;
    if (t < 0) luaL_argerror(L, arg, "record has no valid type");
    rec->type = (sl_record_type)t;
    lua_getfield(L, idx, "ts");
    rec->ts = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "lane");
    rec->lane = luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "pid");
    rec->pid = luaL_optinteger(L, -1, 0);
    lua_getfield(L, idx, "line");
    rec->line = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_pop(L, 5);
    static const struct { const char *k; size_t off, loff; } strs[] = {
        { "name", offsetof(sl_record, name), offsetof(sl_record, name_len) },
        { "status", offsetof(sl_record, status), offsetof(sl_record, status_len) },
        { "error", offsetof(sl_record, error), offsetof(sl_record, error_len) },
        { "attrs_json", offsetof(sl_record, attrs_json), offsetof(sl_record, attrs_len) },
        { "format", offsetof(sl_record, format), offsetof(sl_record, format_len) },
        { "service", offsetof(sl_record, service), offsetof(sl_record, service_len) },
        { "host", offsetof(sl_record, host), offsetof(sl_record, host_len) },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        lua_getfield(L, idx, strs[i].k);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            *(const char **)((char *)rec + strs[i].off) = s;
            *(size_t *)((char *)rec + strs[i].loff) = n;
        }
        lua_pop(L, 1);  /* the table still holds the string */
    }
    size_t n;
    const char *s;
    lua_getfield(L, idx, "id");
    s = lua_tolstring(L, -1, &n);
    if (rec->type != SL_REC_META && (!s || n != 32 || sl_id_from_hex(s, n, &rec->id) != SL_OK))
        luaL_argerror(L, arg, "record has no valid id");
    lua_getfield(L, idx, "trace");
    s = lua_tolstring(L, -1, &n);
    if (s && n == 32 && sl_id_from_hex(s, n, &rec->trace) == SL_OK) rec->has_trace = 1;
    lua_getfield(L, idx, "parent");
    s = lua_tolstring(L, -1, &n);
    if (s && (n == 32 || n == 16) && sl_id_from_hex(s, n, &rec->parent) == SL_OK) {
        rec->has_parent = 1;
        rec->parent_short = n == 16;
    }
    lua_pop(L, 3);
}

/* core.record_jsonl(rec) -> one spanline/1 line (with "\n") for a record
 * table as next() returns it: how filter re-encodes non-spanline input. */
static int l_record_jsonl(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sl_record rec;
    lsl_record_from_table(L, 1, 1, &rec);
    char small[512];
    size_t n = sl_record_jsonl(&rec, small, sizeof small);
    if (n == 0) return luaL_error(L, "out of memory");
    if (n <= sizeof small) {
        lua_pushlstring(L, small, n);
        return 1;
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n);
    sl_record_jsonl(&rec, p, n);
    luaL_pushresultsize(&b, n);
    return 1;
}

/* Record __index: `attrs` decodes attrs_json once (integers stay integers);
 * a table even when the text is not a JSON object. */
static int l_record_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    if (!k || strcmp(k, "attrs") != 0) return 0;
    lua_getfield(L, 1, "attrs_json");
    size_t n;
    const char *json = lua_tolstring(L, -1, &n);
    if (!json) return 0;
    lsl_json_push(L, json, n);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "attrs");
    return 1;
}

static const luaL_Reg reader_methods[] = {
    { "next", l_next },
    { "bad_lines", l_bad_lines },
    { "offset", l_offset },
    { "close", l_close },
    { NULL, NULL }
};

static const luaL_Reg module_funcs[] = {
    { "reader", l_reader },
    { "reader_string", l_reader_string },
    { "record_jsonl", l_record_jsonl },
    { NULL, NULL }
};

void lsl_open_reader(lua_State *L)
{
    lsl_new_class(L, READER_MT, reader_methods, l_close);
    if (luaL_newmetatable(L, RECORD_MT)) {
        lua_pushcfunction(L, l_record_index);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, module_funcs, 0);
}
