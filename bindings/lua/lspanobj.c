/*
 * lspanobj.c: assembled spans as Lua tables (the fields documented in
 * lua/spanline/query/init.lua), filled from an sl_aspan.
 *
 * Key idea: a table gets only the fields asked for (a bit mask; the CLI's
 * streaming commands ask for a few and reuse one table), and what most
 * readers never touch costs nothing until read: a shared metatable whose
 * __index decodes `attrs` from the kept JSON text on first read (always a
 * table, empty when there are none) and answers the defaults of the rest
 * (events and children: the shared read-only EMPTY table; depth 0; orphan
 * false).
 */
#include <string.h>

#include "lbinding.h"
#include "lspanobj.h"

static const char *const FIELD_NAMES[LSL_F_COUNT] = {
    "id", "trace", "parent", "name", "start", "finish", "dur", "status", "error", "attrs",
    "events", "lane", "depth", "self", "orphan", "remote_parent", "line", "cycle", "duplicate",
    "children", "parent_span",
};

unsigned lsl_field_mask(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return LSL_F_ALL;
    luaL_checktype(L, idx, LUA_TTABLE);
    unsigned mask = 0;
    for (lua_Integer i = 1;; i++) {
        if (lua_rawgeti(L, idx, i) == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        const char *f = lua_tostring(L, -1);
        int found = 0;
        for (int k = 0; f && k < LSL_F_COUNT; k++)
            if (strcmp(f, FIELD_NAMES[k]) == 0) { mask |= 1u << k; found = 1; }
        if (!found) return (unsigned)luaL_error(L, "unknown span field '%s'", f ? f : "?");
        lua_pop(L, 1);
    }
    return mask;
}

/* ===== DECODING ===== */

/* Decodes the JSON object text on the stack top into the table at t
 * (later keys win); pops the text. */
static void merge_json(lua_State *L, int t)
{
    size_t n;
    const char *json = lua_tolstring(L, -1, &n);
    lsl_json_push(L, json, n);
    lua_remove(L, -2);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, t);
        }
    }
    lua_pop(L, 1);
}

/* Is the key k (n bytes) the name lit? (A length test first: most keys
 * read here are fields that are nil, which none of these names match.) */
static int key_is(const char *k, size_t n, const char *lit, size_t litn)
{
    return n == litn && memcmp(k, lit, n) == 0;
}

/* span_mt.__index(t, k): attrs decoded on first read; defaults. */
static int l_span_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    size_t klen;
    const char *k = lua_tolstring(L, 2, &klen);
    if (key_is(k, klen, "attrs", 5)) {
        lua_newtable(L);
        int t = lua_gettop(L);
        int kind = lua_getfield(L, 1, "_attrs");
        if (kind == LUA_TSTRING) {
            merge_json(L, t);
        } else if (kind == LUA_TTABLE) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                merge_json(L, t);
            }
            lua_pop(L, 1);
        } else {
            lua_pop(L, 1);
        }
        lua_pushnil(L);
        lua_setfield(L, 1, "_attrs");
        lua_pushvalue(L, t);
        lua_setfield(L, 1, "attrs");
        return 1;
    }
    if (key_is(k, klen, "events", 6) || key_is(k, klen, "children", 8)) {
        lua_getfield(L, LUA_REGISTRYINDEX, LSL_EMPTY);
        return 1;
    }
    if (key_is(k, klen, "depth", 5)) {
        lua_pushinteger(L, 0);
        return 1;
    }
    if (key_is(k, klen, "orphan", 6)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    return 0;
}

/* ===== FILLING ===== */

static void set_int(lua_State *L, int t, const char *k, int have, lua_Integer v)
{
    if (have) lua_pushinteger(L, v);
    else lua_pushnil(L);
    lua_setfield(L, t, k);
}

static void set_str(lua_State *L, int t, const char *k, const char *s, size_t n)
{
    if (s) lua_pushlstring(L, s, n);
    else lua_pushnil(L);
    lua_setfield(L, t, k);
}

/* The status: the four the assembler knows are pushed from constants,
 * which Lua finds in its cache of C strings by address instead of hashing
 * the text again. */
static void set_status(lua_State *L, int t, const char *s, size_t n)
{
    static const char *const KNOWN[] = { "ok", "open", "error", "abandoned" };
    for (int k = 0; s && k < 4; k++) {
        if (n == strlen(KNOWN[k]) && memcmp(s, KNOWN[k], n) == 0) {
            lua_pushstring(L, KNOWN[k]);
            lua_setfield(L, t, "status");
            return;
        }
    }
    set_str(L, t, "status", s, n);
}

/* Flags are true or absent (nil: the metatable answers false for orphan),
 * so a default field costs nothing. */
static void set_flag(lua_State *L, int t, const char *k, int on)
{
    if (on) lua_pushboolean(L, 1);
    else lua_pushnil(L);
    lua_setfield(L, t, k);
}

static void set_attrs(lua_State *L, int t, sl_assembler *a, uint32_t ref)
{
    size_t pos = 0, n, count = 0;
    const char *json;
    lua_pushnil(L);
    lua_setfield(L, t, "attrs");  /* decoded again on first read (a reused table) */
    while (sl_assembler_attrs_next(a, ref, &pos, &json, &n)) {
        if (count == 0) {
            lua_pushlstring(L, json, n);
        } else {
            if (count == 1) {
                lua_createtable(L, 2, 0);
                lua_insert(L, -2);
                lua_rawseti(L, -2, 1);
            }
            lua_pushlstring(L, json, n);
            lua_rawseti(L, -2, (lua_Integer)count + 1);
        }
        count++;
    }
    if (count == 0) lua_pushnil(L);
    lua_setfield(L, t, "_attrs");
}

static void set_events(lua_State *L, int t, sl_assembler *a, const sl_aspan *s)
{
    if (s->nevents == 0) {
        lua_pushnil(L);
        lua_setfield(L, t, "events");
        return;
    }
    lua_createtable(L, (int)s->nevents, 0);
    size_t pos = 0;
    sl_aevent ev;
    lua_Integer i = 0;
    while (sl_assembler_event_next(a, s->ref, &pos, &ev)) {
        lua_createtable(L, 0, 4);
        int e = lua_gettop(L);
        set_str(L, e, "name", ev.name, ev.name_len);
        set_int(L, e, "ts", 1, (lua_Integer)ev.ts);
        if (ev.attrs_json) {
            set_str(L, e, "attrs_json", ev.attrs_json, ev.attrs_len);
            lua_newtable(L);
            lua_pushlstring(L, ev.attrs_json, ev.attrs_len);
            merge_json(L, lua_gettop(L) - 1);
        } else {
            lua_getfield(L, LUA_REGISTRYINDEX, LSL_EMPTY);
        }
        lua_setfield(L, e, "attrs");
        lua_rawseti(L, -2, ++i);
    }
    lua_setfield(L, t, "events");
}

void lsl_fill_span(lua_State *L, int t, sl_assembler *a, const sl_aspan *s, unsigned mask)
{
    int started = (s->flags & SL_ASPAN_STARTED) != 0, ended = (s->flags & SL_ASPAN_ENDED) != 0;
    t = lua_absindex(L, t);
#define WANT(f) (mask & (1u << (f)))
    if (WANT(LSL_F_ID)) {
        lsl_push_id(L, &s->id, 0);
        lua_setfield(L, t, "id");
    }
    if (WANT(LSL_F_TRACE)) {
        if (started) lsl_push_id(L, &s->trace, 0);
        else lua_pushnil(L);
        lua_setfield(L, t, "trace");
    }
    if (WANT(LSL_F_PARENT)) {
        if (s->flags & SL_ASPAN_HAS_PARENT) lsl_push_id(L, &s->parent, (s->flags & SL_ASPAN_REMOTE_PARENT) != 0);
        else lua_pushnil(L);
        lua_setfield(L, t, "parent");
    }
    if (WANT(LSL_F_NAME)) set_str(L, t, "name", started ? s->name : NULL, s->name_len);
    if (WANT(LSL_F_START)) set_int(L, t, "start", started, (lua_Integer)s->start);
    if (WANT(LSL_F_FINISH)) set_int(L, t, "finish", ended, (lua_Integer)s->finish);
    if (WANT(LSL_F_DUR)) set_int(L, t, "dur", started && ended, (lua_Integer)(s->finish - s->start));
    if (WANT(LSL_F_STATUS)) set_status(L, t, s->status, s->status_len);
    if (WANT(LSL_F_ERROR)) set_str(L, t, "error", s->error, s->error_len);
    if (WANT(LSL_F_ATTRS)) set_attrs(L, t, a, s->ref);
    if (WANT(LSL_F_EVENTS)) set_events(L, t, a, s);
    if (WANT(LSL_F_LANE)) set_int(L, t, "lane", started, s->lane);
    if (WANT(LSL_F_DEPTH)) set_int(L, t, "depth", 1, s->depth);
    if (WANT(LSL_F_SELF)) set_int(L, t, "self", started && ended, s->self);
    if (WANT(LSL_F_ORPHAN)) set_flag(L, t, "orphan", (s->flags & SL_ASPAN_ORPHAN) != 0);
    if (WANT(LSL_F_REMOTE)) set_flag(L, t, "remote_parent", (s->flags & SL_ASPAN_REMOTE_PARENT) != 0);
    if (WANT(LSL_F_LINE)) set_int(L, t, "line", started, (lua_Integer)s->line);
    if (WANT(LSL_F_CYCLE)) set_flag(L, t, "cycle", (s->flags & SL_ASPAN_CYCLE) != 0);
    if (WANT(LSL_F_DUPLICATE)) set_flag(L, t, "duplicate", (s->flags & SL_ASPAN_DUPLICATE) != 0);
#undef WANT
}

void lsl_push_span(lua_State *L, sl_assembler *a, const sl_aspan *s, unsigned mask)
{
    lua_createtable(L, 0, 20);
    lsl_fill_span(L, -1, a, s, mask);
    luaL_setmetatable(L, LSL_SPAN_MT);
}

/* ===== SETUP ===== */

static int l_empty_newindex(lua_State *L)
{
    return luaL_error(L, "span field table is the shared EMPTY table (read-only)");
}

void lsl_open_spanobj(lua_State *L)
{
    if (luaL_newmetatable(L, LSL_SPAN_MT)) {
        lua_pushcfunction(L, l_span_index);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    /* EMPTY: one shared, read-only empty table for events and children */
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_empty_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LSL_EMPTY);
    lua_setfield(L, -2, "EMPTY");
    luaL_getmetatable(L, LSL_SPAN_MT);
    lua_setfield(L, -2, "span_mt");
}
