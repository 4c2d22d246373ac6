/*
 * reader.c (binding): core.reader(path | fd | "-", opts) and core.reader_string(s).
 *
 * Key idea: a record becomes one Lua table with integer ts and hex ids (never
 * through a double); attrs stay JSON text (`attrs_json`) and are decoded by
 * lua-cjson only when `rec.attrs` is first read (a shared __index).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>
#include <stdio.h>

#include "binding.h"
#include "reader_internal.h"

#define READER_MT "spanline.reader"
#define RECORD_MT "spanline.record"

typedef struct lreader {
    sl_reader *r;
    int raw;        /* put the record's raw bytes in rec.raw */
    int string_ref; /* reader_string: the string kept alive */
} lreader;

static lreader *check_reader(lua_State *L, int idx)
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
    lua_getfield(L, idx, "raw");
    *raw = lua_toboolean(L, -1);
    lua_pop(L, 3);
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
    if (!r) return sl_lua_fail_error(L, &err);
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
    if (!r) return sl_lua_fail_error(L, &err);
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

static void set_id(lua_State *L, const char *k, const sl_id *id, int is_short)
{
    char hex[33];
    sl_id_to_hex(id, hex);
    lua_pushlstring(L, is_short ? hex + 16 : hex, is_short ? 16 : 32);
    lua_setfield(L, -2, k);
}

static const char *const TYPES[] = { "meta", "start", "event", "attr", "end" };

static void push_record(lua_State *L, const sl_record *rec, int raw, int origin)
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
        if (origin != SL_ORIGIN_SPANLINE_JSONL) {
            lua_pushboolean(L, 1);  /* raw is not a spanline/1 line: re-encode it */
            lua_setfield(L, -2, "foreign");
        }
    }
    luaL_setmetatable(L, RECORD_MT);
}

/* reader:next() -> record | nil (EOF) | false (follow: no data yet) | nil, msg, code */
static int l_next(lua_State *L)
{
    lreader *lr = check_reader(L, 1);
    sl_record rec;
    int rc = sl_reader_next(lr->r, &rec);
    if (rc == SL_OK) {
        push_record(L, &rec, lr->raw, sl_reader_origin(lr->r));
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
    return sl_lua_fail(L, rc == SL_ENOMEM ? "out of memory" : "read error", rc == SL_ENOMEM ? "ENOMEM" : "EIO");
}

/* reader:bad_lines() -> count, {first line numbers} */
static int l_bad_lines(lua_State *L)
{
    lreader *lr = check_reader(L, 1);
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
    lreader *lr = check_reader(L, 1);
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

/* core.record_jsonl(rec) -> one spanline/1 line (with "\n") for a record
 * table as next() returns it: how filter re-encodes non-spanline input. */
static int l_record_jsonl(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    sl_record rec;
    memset(&rec, 0, sizeof rec);
    lua_getfield(L, 1, "type");
    const char *type = luaL_optstring(L, -1, "");
    int t = -1;
    for (int i = 0; i < 5; i++) if (strcmp(type, TYPES[i]) == 0) t = i;
    if (t < 0) return luaL_argerror(L, 1, "record has no valid type");
    rec.type = (sl_record_type)t;
    lua_getfield(L, 1, "ts");
    rec.ts = (uint64_t)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "lane");
    rec.lane = luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "pid");
    rec.pid = luaL_optinteger(L, -1, 0);
    lua_pop(L, 4);
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
        lua_getfield(L, 1, strs[i].k);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            *(const char **)((char *)&rec + strs[i].off) = s;
            *(size_t *)((char *)&rec + strs[i].loff) = n;
        }
        lua_pop(L, 1);  /* the table still holds the string */
    }
    size_t n;
    const char *s;
    lua_getfield(L, 1, "id");
    s = lua_tolstring(L, -1, &n);
    if (rec.type != SL_REC_META && (!s || n != 32 || sl_id_from_hex(s, n, &rec.id) != SL_OK))
        return luaL_argerror(L, 1, "record has no valid id");
    lua_getfield(L, 1, "trace");
    s = lua_tolstring(L, -1, &n);
    if (s && n == 32 && sl_id_from_hex(s, n, &rec.trace) == SL_OK) rec.has_trace = 1;
    lua_getfield(L, 1, "parent");
    s = lua_tolstring(L, -1, &n);
    if (s && sl_id_from_hex(s, n, &rec.parent) == SL_OK) {
        rec.has_parent = 1;
        rec.parent_short = n == 16;
    }
    lua_pop(L, 3);
    sl_buf b = { 0 };
    if (sl_record_to_jsonl(&rec, &b) != SL_OK) {
        sl_buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.ptr, b.len);
    sl_buf_free(&b);
    return 1;
}

/* Record __index: `attrs` decodes attrs_json with lua-cjson once. */
static int l_record_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    if (!k || strcmp(k, "attrs") != 0) return 0;
    lua_getfield(L, 1, "attrs_json");
    if (lua_isnil(L, -1)) return 0;
    lua_getfield(L, lua_upvalueindex(1), "decode");
    if (lua_isnil(L, -1)) {
        /* First use: load lua-cjson (a missing module raises a normal error). */
        lua_getglobal(L, "require");
        lua_pushliteral(L, "cjson.safe");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "decode");
        lua_setfield(L, lua_upvalueindex(1), "decode");
        lua_pop(L, 2);
        lua_getfield(L, lua_upvalueindex(1), "decode");
    }
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "attrs");
    return 1;
}

/* ===== SAMPLES (exact percentiles for spanline.query stats) ===== */

/* Durations kept as packed int64 (8 bytes each, not 16 per Lua slot) so a
 * report over millions of spans stays small; sorted once on demand. */
#define SAMPLES_MT "spanline.samples"

typedef struct lsamples {
    int64_t *v;
    size_t n, cap;
    int sorted;
} lsamples;

static int l_samples(lua_State *L)
{
    lsamples *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, SAMPLES_MT);
    return 1;
}

static int l_samples_add(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    lua_Integer x = luaL_checkinteger(L, 2);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        int64_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return luaL_error(L, "out of memory");
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    s->sorted = 0;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void samples_sort(lsamples *s)
{
    if (!s->sorted && s->n > 1) qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    s->sorted = 1;
}

/* Nearest rank: the smallest value with at least p% of the values <= it,
 * i.e. sorted[ceil(p/100 * n)] (1-based). */
static int64_t nearest_rank(const lsamples *s, double p)
{
    if (p <= 0) return s->v[0];
    double r = p / 100.0 * (double)s->n;
    size_t k = (size_t)r;
    if ((double)k < r) k++;
    if (k < 1) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1];
}

static int l_samples_quantile(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    double p = luaL_checknumber(L, 2);
    luaL_argcheck(L, p >= 0 && p <= 100, 2, "percentile must be in 0..100");
    if (s->n == 0) return 0;
    samples_sort(s);
    lua_pushinteger(L, nearest_rank(s, p));
    return 1;
}

static int l_samples_count(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    lua_pushinteger(L, (lua_Integer)s->n);
    return 1;
}

/* s:summary() -> {count, total, min, max, mean, stdev (population), p50, p90, p95, p99} */
static int l_samples_summary(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, (lua_Integer)s->n);
    lua_setfield(L, -2, "count");
    if (s->n == 0) return 1;
    samples_sort(s);
    int64_t total = 0;
    for (size_t i = 0; i < s->n; i++) total += s->v[i];
    double mean = (double)total / (double)s->n, m2 = 0;
    for (size_t i = 0; i < s->n; i++) {
        double d = (double)s->v[i] - mean;
        m2 += d * d;
    }
    lua_pushinteger(L, total);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, s->v[0]);
    lua_setfield(L, -2, "min");
    lua_pushinteger(L, s->v[s->n - 1]);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, mean);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, sqrt(m2 / (double)s->n));
    lua_setfield(L, -2, "stdev");
    static const struct { const char *k; double p; } ps[] = {
        { "p50", 50 }, { "p90", 90 }, { "p95", 95 }, { "p99", 99 } };
    for (size_t i = 0; i < 4; i++) {
        lua_pushinteger(L, nearest_rank(s, ps[i].p));
        lua_setfield(L, -2, ps[i].k);
    }
    return 1;
}

static int l_samples_gc(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    return 0;
}

static const luaL_Reg samples_methods[] = {
    { "add", l_samples_add },
    { "quantile", l_samples_quantile },
    { "count", l_samples_count },
    { "summary", l_samples_summary },
    { NULL, NULL }
};

/* ===== SPAN STREAM (spans assembled in C, for streaming commands) ===== */

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
    lreader *lr = check_reader(L, 1);
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
        sl_id_to_hex(&a->id, hex);
        lua_pushlstring(L, hex, 32);
        lua_setfield(L, -2, "id");
    }
    if (fl & (1u << F_TRACE)) {
        sl_id_to_hex(&a->trace, hex);
        if (a->has_trace) lua_pushlstring(L, hex, 32); else lua_pushnil(L);
        lua_setfield(L, -2, "trace");
    }
    if (fl & (1u << F_PARENT)) {
        if (!a->has_parent) lua_pushnil(L);
        else { sl_id_to_hex(&a->parent, hex); lua_pushlstring(L, a->parent_short ? hex + 16 : hex, a->parent_short ? 16 : 32); }
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
    return sl_lua_fail(L, rc == SL_ENOMEM ? "out of memory" : "read error", rc == SL_ENOMEM ? "ENOMEM" : "EIO");
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
                    return sl_lua_fail(L, "write error", "EIO");
            }
            if (a->raw.len && fwrite(a->raw.ptr, 1, a->raw.len, f->f) != a->raw.len)
                return sl_lua_fail(L, "write error", "EIO");
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
            return sl_lua_fail(L, "write error", "EIO");
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
    { "samples", l_samples },
    { "span_stream", l_span_stream },
    { NULL, NULL }
};

void sl_lua_open_reader(lua_State *L)
{
    if (luaL_newmetatable(L, READER_MT)) {
        luaL_newlib(L, reader_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, RECORD_MT)) {
        lua_newtable(L);  /* upvalue: cache of cjson.decode */
        lua_pushcclosure(L, l_record_index, 1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, STREAM_MT)) {
        luaL_newlib(L, stream_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_stream_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, SAMPLES_MT)) {
        luaL_newlib(L, samples_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_samples_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, module_funcs, 0);
}
