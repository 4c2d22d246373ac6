/*
 * lassemble.c: core.assembler(opts): the C span assembler (sl_assembler_*)
 * from Lua, for spanline.query (stream and traces modes) and the viewer
 * (keep mode).
 *
 * Key idea: records go from a core.reader into the assembler without
 * becoming Lua tables (feed); only the spans handed out become tables, with
 * the fields asked for. A whole trace is handed out as linked tables
 * (children by start, parent_span), built breadth first: no recursion, so a
 * 10^5-deep chain is fine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "lbinding.h"
#include "lassemble.h"
#include "lspanobj.h"
#include "lwhere.h"

#define ASM_MT "spanline.assembler"

/* The methods get the metatable as upvalue 1: comparing it is cheaper than
 * luaL_checkudata's registry lookup by name, once per span handed out. */
lasm *lsl_asm_check(lua_State *L, int idx)
{
    lasm *la = lsl_check_self(L, idx, ASM_MT);
    if (!la->a) luaL_argerror(L, idx, "assembler is closed");
    return la;
}

/* The bound reader, or NULL (none, or closed since). */
static sl_reader *bound(lasm *la)
{
    return la->reader ? la->reader->r : NULL;
}

/* asm:bind(reader): next, next_trace and filter read records from it. */
static int l_bind(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    la->reader = lsl_reader_check(L, 2);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/* nil, message, code for a failed read or add (the reader says why). */
static int fail_code(lua_State *L, lreader *lr, int rc)
{
    if (rc == SL_ENOMEM || !lr) return lsl_fail(L, "out of memory", "ENOMEM");
    return lsl_reader_fail(L, lr, rc);
}

/* core.assembler({mode = "stream"|"traces"|"keep", raw, attrs, events, pid})
 * pid: keep only that process's records (a stream several processes wrote). */
static int l_assembler(lua_State *L)
{
    sl_assembler_opts o;
    memset(&o, 0, sizeof o);
    o.mode = SL_ASM_STREAM;
    int started_only = 0;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "mode");
        const char *mode = luaL_optstring(L, -1, "stream");
        if (strcmp(mode, "stream") == 0) o.mode = SL_ASM_STREAM;
        else if (strcmp(mode, "traces") == 0) o.mode = SL_ASM_TRACES;
        else if (strcmp(mode, "keep") == 0) o.mode = SL_ASM_KEEP;
        else return luaL_argerror(L, 1, "mode must be \"stream\", \"traces\" or \"keep\"");
        lua_getfield(L, 1, "raw");
        o.keep_raw = lua_toboolean(L, -1);
        lua_getfield(L, 1, "attrs");
        o.skip_attrs = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_getfield(L, 1, "events");
        o.skip_events = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_getfield(L, 1, "pid");
        if (!lua_isnil(L, -1)) {
            o.select_pid = 1;
            o.pid = luaL_checkinteger(L, -1);
        }
        lua_getfield(L, 1, "started_only");
        started_only = lua_toboolean(L, -1);
        lua_pop(L, 6);
        /* take_ready reads the flag of a span: traces have none */
        if (started_only && o.mode != SL_ASM_STREAM)
            return luaL_argerror(L, 1, "started_only needs mode \"stream\"");
    }
    lasm *la = lua_newuserdatauv(L, sizeof *la, 1);
    memset(la, 0, sizeof *la);
    la->started_only = started_only;
    luaL_setmetatable(L, ASM_MT);
    sl_error err;
    la->a = sl_assembler_new(&o, &err);
    if (!la->a) return luaL_error(L, "%s", err.message);
    la->mode = o.mode;
    return 1;
}

/* asm:add(record) -> ref | nil (a meta record) */
static int l_add(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    sl_record rec;
    lsl_record_from_table(L, 2, 1, &rec);
    int rc = sl_assembler_add(la->a, &rec);
    if (rc == SL_ESTATE) return luaL_error(L, "assembler: add after finish");
    if (rc != SL_OK) return fail_code(L, NULL, rc);
    uint32_t ref = sl_assembler_last(la->a);
    if (ref == SL_NO_SPAN) return 0;
    lua_pushinteger(L, ref);
    return 1;
}

/* asm:feed(reader [, max]) -> "ready" | "eof" | "again" | "more", records
 * Reads records until something can be handed out (stream, traces), the
 * reader has nothing more ("eof"; "again" when following), or max records
 * were read ("more"). A read error returns nil, message, code. */
static int l_feed(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    lreader *lr = lsl_reader_check(L, 2);
    lua_Integer max = luaL_optinteger(L, 3, -1);
    lua_Integer n = 0;
    const char *state = "more";
    while (max < 0 || n < max) {
        if (la->mode != SL_ASM_KEEP && sl_assembler_ready(la->a) > 0) {
            state = "ready";
            break;
        }
        sl_record rec;
        int rc = sl_reader_next(lr->r, &rec);
        if (rc == SL_EOF) {
            state = "eof";
            break;
        }
        if (rc == SL_EAGAIN) {
            state = "again";
            break;
        }
        if (rc != SL_OK) return fail_code(L, lr, rc);
        rc = sl_assembler_add(la->a, &rec);
        if (rc == SL_ESTATE) return luaL_error(L, "assembler: feed after finish");
        if (rc != SL_OK) return fail_code(L, NULL, rc);
        n++;
    }
    lua_pushstring(L, state);
    lua_pushinteger(L, n);
    return 2;
}

static int l_finish(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    int rc = sl_assembler_finish(la->a);
    if (rc != SL_OK) return fail_code(L, NULL, rc);
    return 0;
}

/* Reads one record from r into the assembler (finishing it at the end of
 * the input): SL_OK, SL_EAGAIN (following: no data yet) or an error. */
static int pull_one(lasm *la, sl_reader *r)
{
    sl_record rec;
    int rc = sl_reader_next(r, &rec);
    if (rc == SL_EOF) return sl_assembler_finish(la->a);
    if (rc != SL_OK) return rc;
    return sl_assembler_add(la->a, &rec);
}

/* The next span (stream) or trace (traces) into out, reading the bound
 * reader as needed: SL_OK, SL_EAGAIN (following: no data yet), SL_EOF, or
 * an error. */
static int take_ready(lasm *la, void *out)
{
    sl_reader *r = bound(la);
    for (;;) {
        int rc = la->mode == SL_ASM_TRACES ? sl_assembler_next_trace(la->a, out)
                                           : sl_assembler_next(la->a, out);
        if (rc == SL_OK && la->started_only && !(((const sl_aspan *)out)->flags & SL_ASPAN_STARTED))
            continue;   /* counted by the assembler (ends_only) */
        if (rc != SL_EAGAIN || !r) return rc;
        rc = pull_one(la, r);
        if (rc != SL_OK) return rc;
    }
}

/* What next/next_trace return when nothing is handed out: nil (the end),
 * false (add more records) or nil, message, code. */
static int push_not_ready(lua_State *L, lasm *la, int rc)
{
    if (rc == SL_EOF) return 0;
    if (rc == SL_EAGAIN) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return fail_code(L, la->reader, rc);
}

/* asm:next([fields [, reuse]]) -> span, ref, parent_ref, pending,
 *   parent_released | false (add more records) | nil (finished, nothing left)
 * fields: a mask from core.span_fields (default all); reuse: a table to
 * fill instead of a new one. With a bound reader, records are read from it
 * until a span is ready (false then means: following, no data yet). */
static int l_next(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    if (la->mode != SL_ASM_STREAM) return luaL_argerror(L, 1, "next() needs mode \"stream\"");
    unsigned mask = (unsigned)luaL_optinteger(L, 2, LSL_F_ALL);
    sl_aspan s;
    int rc = take_ready(la, &s);
    if (rc != SL_OK) return push_not_ready(L, la, rc);
    if (lua_istable(L, 3)) {
        lsl_fill_span(L, 3, la->a, &s, mask);
        lua_pushvalue(L, 3);
    } else {
        lsl_push_span(L, la->a, &s, mask);
    }
    lua_pushinteger(L, s.ref);
    if (s.parent_ref != SL_NO_SPAN) lua_pushinteger(L, s.parent_ref);
    else lua_pushnil(L);
    lua_pushinteger(L, s.pending_children);
    lua_pushboolean(L, s.parent_released);
    return 5;
}

/* Pushes the tree under the roots as linked span tables: an array of the
 * root tables. Breadth first, so depth costs no C or Lua stack. */
int lsl_push_trees(lua_State *L, sl_assembler *a, const uint32_t *roots, size_t nroots, unsigned mask)
{
    size_t cap = nroots + 16, n = 0;
    uint32_t *queue = malloc(cap * sizeof *queue);
    uint32_t *kids = NULL;
    size_t kcap = 0;
    if (!queue) return luaL_error(L, "out of memory");
    lua_createtable(L, (int)nroots, 0);   /* the roots */
    int out = lua_gettop(L);
    lua_newtable(L);                      /* tables[i]: the span of queue[i] */
    int tabs = lua_gettop(L);
    sl_aspan s;
    for (size_t i = 0; i < nroots; i++) {
        sl_assembler_get(a, roots[i], &s);
        lsl_push_span(L, a, &s, mask);
        lua_pushvalue(L, -1);
        lua_rawseti(L, out, (lua_Integer)i + 1);
        lua_rawseti(L, tabs, (lua_Integer)n + 1);
        queue[n++] = roots[i];
    }
    for (size_t i = 0; i < n; i++) {
        size_t m = sl_assembler_children(a, queue[i], NULL, 0);
        if (m == 0) continue;
        if (m > kcap) {
            uint32_t *nk = realloc(kids, m * sizeof *nk);
            if (!nk) goto nomem;
            kids = nk;
            kcap = m;
        }
        sl_assembler_children(a, queue[i], kids, m);
        if (n + m > cap) {
            while (cap < n + m) cap *= 2;
            uint32_t *nq = realloc(queue, cap * sizeof *nq);
            if (!nq) goto nomem;
            queue = nq;
        }
        lua_rawgeti(L, tabs, (lua_Integer)i + 1);
        int parent = lua_gettop(L);
        lua_createtable(L, (int)m, 0);
        int children = lua_gettop(L);
        for (size_t j = 0; j < m; j++) {
            sl_assembler_get(a, kids[j], &s);
            lsl_push_span(L, a, &s, mask);
            lua_pushvalue(L, parent);
            lua_setfield(L, -2, "parent_span");
            lua_pushvalue(L, -1);
            lua_rawseti(L, children, (lua_Integer)j + 1);
            lua_rawseti(L, tabs, (lua_Integer)n + 1);
            queue[n++] = kids[j];
        }
        lua_setfield(L, parent, "children");
        lua_pop(L, 1);
    }
    free(queue);
    free(kids);
    lua_pop(L, 1);  /* tabs */
    return 1;
nomem:
    free(queue);
    free(kids);
    return luaL_error(L, "out of memory");
}

/* asm:next_trace([fields]) -> { trace = hex id, roots = { span trees } }
 *   | false (add more records) | nil (finished, nothing left)
 * A bound reader is read as for next. */
static int l_next_trace(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    if (la->mode != SL_ASM_TRACES) return luaL_argerror(L, 1, "next_trace() needs mode \"traces\"");
    unsigned mask = (unsigned)luaL_optinteger(L, 2, LSL_F_ALL);
    sl_atrace t;
    int rc = take_ready(la, &t);
    if (rc != SL_OK) return push_not_ready(L, la, rc);
    lua_createtable(L, 0, 2);
    lsl_push_id(L, &t.id, 0);
    lua_setfield(L, -2, "trace");
    lsl_push_trees(L, la->a, t.roots, t.nroots, mask);
    lua_setfield(L, -2, "roots");
    return 1;
}


uint32_t lsl_asm_ref(lua_State *L, lasm *la, int idx)
{
    lua_Integer r = luaL_checkinteger(L, idx);
    sl_aspan s;
    if (r < 0 || r > UINT32_MAX || sl_assembler_get(la->a, (uint32_t)r, &s) != SL_OK)
        luaL_argerror(L, idx, "no such span");
    return (uint32_t)r;
}

static int l_stats(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_asm_stats st;
    sl_assembler_stats(la->a, &st);
    lua_createtable(L, 0, 15);
#define F(k) lua_pushinteger(L, (lua_Integer)st.k); lua_setfield(L, -2, #k)
    F(records); F(metas); F(spans); F(open); F(errors); F(abandoned); F(traces); F(cycles); F(duplicates);
    F(ends_only);
#undef F
    if (st.min_start) {
        lua_pushinteger(L, (lua_Integer)st.min_start);
        lua_setfield(L, -2, "min_start");
    }
    if (st.min_ts) {
        lua_pushinteger(L, (lua_Integer)st.min_ts);
        lua_setfield(L, -2, "min_ts");
        lua_pushinteger(L, (lua_Integer)st.max_ts);
        lua_setfield(L, -2, "max_ts");
    }
    return 1;
}

/* asm:meta() -> the first meta record as a spanline/1 line, or nil */
static int l_meta(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    size_t n;
    const char *m = sl_assembler_meta(la->a, &n);
    if (!m) return 0;
    lua_pushlstring(L, m, n);
    return 1;
}

void lsl_push_refs(lua_State *L, const uint32_t *refs, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, refs[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* asm:pids() -> { distinct pids of the meta records seen }, more */
static int l_pids(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    const int64_t *pids;
    int more;
    size_t n = sl_assembler_pids(la->a, &pids, &more);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, pids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushboolean(L, more);
    return 2;
}

/* Writes a span's records (raw mode) to f; 0, or -1 on a write error. */
static int write_raw(sl_assembler *a, uint32_t r, FILE *f)
{
    size_t pos = 0, n;
    const char *line;
    while (sl_assembler_raw_next(a, r, &pos, &line, &n))
        if (fwrite(line, 1, n, f) != n) return -1;
    return 0;
}

/* asm:raw(ref) -> the span's records as spanline/1 lines (raw mode) */
static int l_raw(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t r = lsl_asm_ref(L, la, 2);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t pos = 0, n;
    const char *line;
    while (sl_assembler_raw_next(la->a, r, &pos, &line, &n)) luaL_addlstring(&b, line, n);
    luaL_pushresult(&b);
    return 1;
}

static int write_meta(sl_assembler *a, FILE *f)
{
    size_t n;
    const char *m = sl_assembler_meta(a, &n);
    if (!m) {
        m = "{\"type\":\"meta\",\"format\":\"" SL_FORMAT_NAME "\"}";
        n = strlen(m);
    }
    return fwrite(m, 1, n, f) == n && fputc('\n', f) != EOF ? 0 : -1;
}

/* filter's pred(span) (the stack as l_filter sets it up; with bounded,
 * the function it wraps is in slot 10): its truth; a failing call counts
 * as no match, the first message kept in slot 8. */
static int call_pred(lua_State *L, lasm *la, const sl_aspan *s, unsigned mask, int linker,
                     lsl_bounded *bounded, lua_Integer *failures, int *first_failure)
{
    lua_pushvalue(L, bounded ? 10 : 2);
    if (linker) {
        lsl_push_span(L, la->a, s, mask);
        lua_pushvalue(L, 6);
        lua_pushvalue(L, -2);
        lua_pushinteger(L, s->ref);
        if (s->parent_ref != SL_NO_SPAN) lua_pushinteger(L, s->parent_ref);
        else lua_pushnil(L);
        lua_pushinteger(L, s->pending_children);
        lua_pushboolean(L, s->parent_released);
        lua_call(L, 5, 0);
    } else {
        lsl_fill_span(L, 9, la->a, s, mask);
        lua_pushvalue(L, 9);
    }
    int status = bounded ? lsl_bounded_pcall(L, bounded, 2, 1, 1) : lua_pcall(L, 1, 1, 0);
    if (status != LUA_OK) {
        ++*failures;
        if (!*first_failure) {
            *first_failure = 1;
            lua_replace(L, 8);
        } else {
            lua_pop(L, 1);
        }
        return 0;
    }
    int yes = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return yes;
}

/* asm:filter(pred, file [, limit [, fields [, linker [, program]]]]) ->
 * matched, failures, first_failure, spans
 * The filter loop in C (stream mode with raw, a bound reader): pred(span)
 * for every span (a failing call counts as no match), the records of the
 * matching spans written to file, preceded by the stream's meta line (or a
 * minimal one) before the first match. Without linker one table is reused
 * for every span; with one, each span is a new table handed to
 * linker(span, ref, parent_ref, pending, parent_released) first. A program
 * (core.where_program of the same expression; not with linker) judges the
 * spans it can without pred. Stops at
 * the end (the assembler is finished), or when following and no data is
 * left. */
static int l_filter(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_Stream *f = luaL_checkudata(L, 3, LUA_FILEHANDLE);
    if (!f->closef) return luaL_argerror(L, 3, "file is closed");
    lua_Integer limit = luaL_optinteger(L, 4, -1);
    unsigned mask = (unsigned)luaL_optinteger(L, 5, LSL_F_ALL);
    int linker = !lua_isnoneornil(L, 6);
    if (linker) luaL_checktype(L, 6, LUA_TFUNCTION);
    const lsl_where *prog = linker ? NULL : lsl_where_opt(L, 7);
    if (la->mode != SL_ASM_STREAM) return luaL_argerror(L, 1, "filter() needs mode \"stream\"");
    sl_reader *r = bound(la);
    if (!r) return luaL_argerror(L, 1, "filter() needs a bound reader");
    lua_Integer matched = 0, failures = 0, seen = 0;
    int first_failure = 0;
    lua_settop(L, 7);
    lua_pushnil(L);                          /* 8: the first failure message */
    lua_createtable(L, 0, 20);               /* 9: the reused span table */
    luaL_setmetatable(L, LSL_SPAN_MT);
    lsl_bounded *bounded = lsl_bounded_open(L, 2);   /* 10: what a core.bounded pred wraps */
    while (limit < 0 || matched < limit) {
        sl_aspan s;
        int rc = sl_assembler_next(la->a, &s);
        if (rc == SL_EAGAIN) {
            rc = pull_one(la, r);
            if (rc == SL_EAGAIN) break;
            if (rc != SL_OK) return fail_code(L, la->reader, rc);
            continue;
        }
        if (rc == SL_EOF) break;
        if (rc != SL_OK) return fail_code(L, la->reader, rc);
        seen++;
        int yes = prog ? lsl_where_eval(prog, &s) : -1;
        if (yes == 0) continue;
        if (yes < 0 && !call_pred(L, la, &s, mask, linker, bounded, &failures, &first_failure))
            continue;
        if (matched++ == 0 && write_meta(la->a, f->f) != 0) return lsl_fail(L, "write error", "EIO");
        if (write_raw(la->a, s.ref, f->f) != 0) return lsl_fail(L, "write error", "EIO");
    }
    lua_pushinteger(L, matched);
    lua_pushinteger(L, failures);
    lua_pushvalue(L, 8);
    lua_pushinteger(L, seen);
    return 4;
}

static int l_gc(lua_State *L)
{
    lasm *la = luaL_checkudata(L, 1, ASM_MT);
    sl_assembler_free(la->a);
    free(la->rows);
    la->a = NULL;
    la->reader = NULL;
    la->rows = NULL;
    la->rows_cap = 0;
    return 0;
}

static int l_close(lua_State *L)
{
    lsl_asm_check(L, 1);
    return l_gc(L);
}

/* core.span_fields({names}) -> a field mask for next/span/next_trace/filter */
static int l_span_fields(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushinteger(L, lsl_field_mask(L, 1));
    return 1;
}

static const luaL_Reg asm_methods[] = {
    { "bind", l_bind },
    { "add", l_add },
    { "feed", l_feed },
    { "finish", l_finish },
    { "next", l_next },
    { "next_trace", l_next_trace },
    { "stats", l_stats },
    { "meta", l_meta },
    { "pids", l_pids },
    { "raw", l_raw },
    { "filter", l_filter },
    { "close", l_close },
    { NULL, NULL }
};

static const luaL_Reg asm_funcs[] = {
    { "assembler", l_assembler },
    { "span_fields", l_span_fields },
    { NULL, NULL }
};

void lsl_open_assemble(lua_State *L)
{
    if (luaL_newmetatable(L, ASM_MT)) {
        lua_newtable(L);
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, asm_methods, 1);   /* upvalue: the metatable (lsl_asm_check) */
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, lsl_keep_methods, 1);
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, lsl_view_methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, asm_funcs, 0);
    lsl_open_spanobj(L);
}
