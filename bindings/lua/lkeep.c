/*
 * lkeep.c: reading a kept store from Lua (assembler methods): spans and
 * trees by ref, children and roots, one fact of a span, trace sums, the
 * change list.
 *
 * Key idea: callers hold refs (integers), never span tables, except for
 * the spans they show; a span's fields become a table only when asked for
 * (span, trees). What a view asks about many spans at once is in lview.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lassemble.h"
#include "lspanobj.h"

static int get(lasm *la, uint32_t r, sl_aspan *s)
{
    return sl_assembler_get(la->a, r, s);
}

/* ===== SPANS ===== */

/* asm:span(ref [, fields [, into]]) -> span table (no children or
 * parent_span links); into: fill that table instead of a new one. */
static int l_span(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t r = lsl_asm_ref(L, la, 2);
    unsigned mask = (unsigned)luaL_optinteger(L, 3, LSL_F_ALL);
    sl_aspan s;
    get(la, r, &s);
    if (lua_istable(L, 4)) {
        lsl_fill_span(L, 4, la->a, &s, mask);
        lua_pushvalue(L, 4);
    } else {
        lsl_push_span(L, la->a, &s, mask);
    }
    return 1;
}

/* asm:trees(refs [, fields]) -> { linked span trees } of those roots */
static int l_trees(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    unsigned mask = (unsigned)luaL_optinteger(L, 3, LSL_F_ALL);
    size_t n = lua_rawlen(L, 2);
    uint32_t *refs = lua_newuserdatauv(L, (n ? n : 1) * sizeof *refs, 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        refs[i] = lsl_asm_ref(L, la, -1);
        lua_pop(L, 1);
    }
    return lsl_push_trees(L, la->a, refs, n, mask);
}

/* asm:children(ref [, info]) -> { refs by start } [, { name ids }, { child
 * counts }] */
static int l_children(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t r = lsl_asm_ref(L, la, 2);
    int info = lua_toboolean(L, 3);
    size_t n = sl_assembler_children(la->a, r, NULL, 0);
    uint32_t *buf = lua_newuserdatauv(L, (n ? n : 1) * sizeof *buf, 0);
    sl_assembler_children(la->a, r, buf, n);
    lsl_push_refs(L, buf, n);
    if (!info) return 1;
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, (int)n, 0);
    sl_aspan s;
    for (size_t i = 0; i < n; i++) {
        get(la, buf[i], &s);
        lua_pushinteger(L, s.name_id == SL_NO_SPAN ? -1 : (lua_Integer)s.name_id);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        lua_pushinteger(L, s.nchildren);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 3;
}

typedef struct keyref {
    uint64_t start;
    sl_id id;
    uint32_t ref;
} keyref;

static int by_key(const void *x, const void *y)
{
    const keyref *a = x, *b = y;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return memcmp(a->id.bytes, b->id.bytes, 16);
}

/* asm:roots([sorted]) -> { refs } in arrival order, or by start (keep mode) */
static int l_roots(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    const uint32_t *refs;
    size_t n = sl_assembler_roots(la->a, &refs);
    if (!lua_toboolean(L, 2)) {
        lsl_push_refs(L, refs, n);
        return 1;
    }
    keyref *k = lua_newuserdatauv(L, (n ? n : 1) * sizeof *k, 0);
    sl_aspan s;
    for (size_t i = 0; i < n; i++) {
        get(la, refs[i], &s);
        k[i].start = s.start;
        k[i].id = s.id;
        k[i].ref = refs[i];
    }
    qsort(k, n, sizeof *k, by_key);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, k[i].ref);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* asm:find(hex id) -> ref | nil */
static int l_find(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    size_t n;
    const char *hex = luaL_checklstring(L, 2, &n);
    sl_id id;
    if (n != 32 || sl_id_from_hex(hex, n, &id) != SL_OK) return 0;
    uint32_t r = sl_assembler_find(la->a, &id);
    if (r == SL_NO_SPAN) return 0;
    lua_pushinteger(L, r);
    return 1;
}

/* ===== ONE FACT OF A SPAN ===== */

/* asm:parent(ref) -> the linked parent's ref | nil */
static int l_parent(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_aspan s;
    get(la, lsl_asm_ref(L, la, 2), &s);
    if (s.parent_ref == SL_NO_SPAN) return 0;
    lua_pushinteger(L, s.parent_ref);
    return 1;
}

/* asm:nchildren(ref) -> n */
static int l_nchildren(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_aspan s;
    get(la, lsl_asm_ref(L, la, 2), &s);
    lua_pushinteger(L, s.nchildren);
    return 1;
}

/* asm:start(ref) -> start | nil; asm:name(ref) -> name | nil */
static int l_start(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_aspan s;
    get(la, lsl_asm_ref(L, la, 2), &s);
    if (!(s.flags & SL_ASPAN_STARTED)) return 0;
    lua_pushinteger(L, (lua_Integer)s.start);
    return 1;
}

static int l_name(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_aspan s;
    get(la, lsl_asm_ref(L, la, 2), &s);
    if (!s.name) return 0;
    lua_pushlstring(L, s.name, s.name_len);
    return 1;
}

/* asm:trace_range(ref) -> lo, hi, open: the span's trace's first start,
 * last end (or start), spans not ended (lo, hi nil when none started) */
static int l_trace_range(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_aspan s;
    sl_atrace t;
    get(la, lsl_asm_ref(L, la, 2), &s);
    if (s.trace_ref == SL_NO_SPAN || sl_assembler_trace(la->a, s.trace_ref, &t) != SL_OK) return 0;
    if (t.start) lua_pushinteger(L, (lua_Integer)t.start); else lua_pushnil(L);
    if (t.start) lua_pushinteger(L, (lua_Integer)t.finish); else lua_pushnil(L);
    lua_pushinteger(L, t.nopen);
    return 3;
}

/* asm:trace_sums(prefix) -> { spans, open, errors, abandoned, traces,
 * min_start } over the traces whose id starts with prefix (hex) */
static int l_trace_sums(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    size_t plen;
    const char *prefix = luaL_checklstring(L, 2, &plen);
    lua_Integer spans = 0, open = 0, errors = 0, abandoned = 0, traces = 0;
    uint64_t min_start = 0;
    sl_atrace t;
    char hex[33];
    for (uint32_t r = 0;; r++) {
        int rc = sl_assembler_trace(la->a, r, &t);
        if (rc == SL_EOF) break;
        if (rc != SL_OK || t.nspans == 0) continue;
        sl_id_to_hex(&t.id, hex);
        if (plen > 32 || memcmp(hex, prefix, plen) != 0) continue;
        traces++;
        spans += t.nspans;
        open += t.nopen;
        errors += t.nerrors;
        abandoned += t.nabandoned;
        if (t.start && (min_start == 0 || t.start < min_start)) min_start = t.start;
    }
    lua_createtable(L, 0, 6);
#define F(k) lua_pushinteger(L, k); lua_setfield(L, -2, #k)
    F(spans); F(open); F(errors); F(abandoned); F(traces);
#undef F
    if (min_start) {
        lua_pushinteger(L, (lua_Integer)min_start);
        lua_setfield(L, -2, "min_start");
    }
    return 1;
}

/* ===== CHANGES ===== */

/* asm:track(on) */
static int l_track(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    sl_assembler_track(la->a, lua_toboolean(L, 2));
    return 0;
}

/* asm:changes() -> { refs touched since the last call } */
static int l_changes(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    const uint32_t *refs;
    size_t n = sl_assembler_changes(la->a, &refs);
    lsl_push_refs(L, refs, n);
    return 1;
}

const luaL_Reg lsl_keep_methods[] = {
    { "span", l_span },
    { "trees", l_trees },
    { "children", l_children },
    { "roots", l_roots },
    { "find", l_find },
    { "parent", l_parent },
    { "nchildren", l_nchildren },
    { "start", l_start },
    { "name", l_name },
    { "trace_range", l_trace_range },
    { "trace_sums", l_trace_sums },
    { "track", l_track },
    { "changes", l_changes },
    { NULL, NULL }
};
