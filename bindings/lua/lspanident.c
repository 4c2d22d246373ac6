/*
 * lspanident.c: the Lua object of a span: its type check and what stays
 * readable on it (id, trace id, parent, traceparent, name, lane, start)
 * after the span ended and its pool entry went to another span.
 *
 * Key idea: the object copies the span's identity and name at the start,
 * so these methods never touch the entry; a per-process magic word as its
 * first field is the type check without a metatable lookup.
 */
#include <string.h>

#include "ltrace.h"

uint64_t lsl_span_magic;

/* Span objects carry a per-process random magic word: a full userdata at
 * least as large as a span object (light userdata have length 0) with that
 * word is one of ours, and the check pushes nothing. */
lsl_spanobj *lsl_span_test(lua_State *L, int idx)
{
    lsl_spanobj *o = (lsl_spanobj *)lua_touserdata(L, idx);
    if (o == NULL || lua_rawlen(L, idx) < sizeof(lsl_spanobj) || o->magic != lsl_span_magic) return NULL;
    return o;
}

lsl_spanobj *lsl_span_check(lua_State *L, int idx)
{
    lsl_spanobj *o = lsl_span_test(L, idx);
    if (o == NULL) luaL_typeerror(L, idx, "spanline.span");
    return o;
}

lsl_spanobj *lsl_spanobj_new(lua_State *L, lsl_entry *e, const char *name, size_t len)
{
    int linked = (e->s.flags & SL_SPAN_HAS_PARENT) != 0;
    lsl_spanobj *o = (lsl_spanobj *)lua_newuserdatauv(L, lsl_spanobj_size(linked, len), 0);
    o->magic = lsl_span_magic;
    lsl_spanobj_fill(o, e, LO_OPEN | (e->state & (LS_NOOP | LS_UNSAMPLED | LS_FRAME)), linked, name,
                     len);
    lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawseti(L, lua_upvalueindex(UV_WEAK), e->slot);
    return o;
}

void lsl_span_push_object(lua_State *L, lsl_entry *e)
{
    if (lua_rawgeti(L, lua_upvalueindex(UV_WEAK), e->slot) != LUA_TNIL) {
        lsl_spanobj *o = (lsl_spanobj *)lua_touserdata(L, -1);
        if (o && o->e == e && o->gen == e->gen) return;
    }
    lua_pop(L, 1);
    if (!(e->state & LS_FRAME)) {
        lua_pushnil(L);   /* collected, not yet ended by the sentinel */
        return;
    }
    /* The allocation may run finalizers: the frame of a dead coroutine can
     * end (and free) e meanwhile. */
    uint32_t gen = e->gen;
    lsl_spanobj *o = lsl_spanobj_new(L, e, e->name ? e->name : "", e->name ? e->name_len : 0);
    if (e->gen != gen) {
        o->e = NULL;
        o->state = 0;
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

void lsl_span_orphan_object(lua_State *L, lsl_entry *e)
{
    if (lua_rawgeti(L, lua_upvalueindex(UV_WEAK), e->slot) != LUA_TNIL) {
        lsl_spanobj *o = (lsl_spanobj *)lua_touserdata(L, -1);
        if (o && o->e == e && o->gen == e->gen) o->state &= ~LS_FRAME;
    }
    lua_pop(L, 1);
}

static void push_hex(lua_State *L, const sl_id *id, int short16)
{
    char hex[33];
    sl_id_to_hex(id, hex);
    if (short16) lua_pushlstring(L, hex + 16, 16);
    else lua_pushlstring(L, hex, 32);
}

static lsl_spanobj *check_recorded(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    return (o->state & LS_NOOP) ? NULL : o;
}

static int l_span_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    push_hex(L, &o->id, 0);
    return 1;
}

static int l_span_trace_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    push_hex(L, lsl_spanobj_trace(o), 0);
    return 1;
}

static int l_span_parent_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL || !(o->state & LO_LINKED)) return 0;
    push_hex(L, lsl_spanobj_parent(o), (o->state & LO_PARENT_REMOTE) != 0);
    return 1;
}

static int l_span_traceparent(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    sl_context c;
    char out[SL_TRACEPARENT_LEN + 1];
    lsl_spanobj_context(o, &c);
    sl_traceparent_format(&c, out);
    lua_pushlstring(L, out, SL_TRACEPARENT_LEN);
    return 1;
}

static int l_span_name(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushlstring(L, lsl_spanobj_name(o), o->name_len);
    return 1;
}

static int l_span_lane(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushinteger(L, o->lane);
    return 1;
}

static int l_span_start_ns(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushinteger(L, (lua_Integer)o->start_ns);
    return 1;
}

static int is_open(const lsl_spanobj *o)
{
    lsl_entry *e = lsl_live_entry(o);
    return e && (e->state & LS_OPEN);
}

static int l_span_is_open(lua_State *L)
{
    lua_pushboolean(L, is_open(lsl_span_check(L, 1)));
    return 1;
}

static int l_span_is_recording(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    lua_pushboolean(L, (o->state & LS_NOOP) == 0);
    return 1;
}

static int l_span_tostring(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    if (o->state & LS_NOOP) {
        lua_pushstring(L, (o->state & LS_UNSAMPLED) ? "spanline.span (no-op, unsampled root)"
                                                     : "spanline.span (no-op)");
    } else {
        char hex[33];
        sl_id_to_hex(&o->id, hex);
        lua_pushfstring(L, "spanline.span '%s' %s (%s)", lsl_spanobj_name(o), hex,
                        is_open(o) ? "open" : "ended");
    }
    return 1;
}

const luaL_Reg lsl_spanobj_methods[] = {
    {"id", l_span_id},
    {"trace_id", l_span_trace_id},
    {"parent_id", l_span_parent_id},
    {"traceparent", l_span_traceparent},
    {"name", l_span_name},
    {"lane", l_span_lane},
    {"start_ns", l_span_start_ns},
    {"is_open", l_span_is_open},
    {"is_recording", l_span_is_recording},
    {NULL, NULL}
};

const luaL_Reg lsl_span_meta[] = {
    {"__tostring", l_span_tostring},
    {NULL, NULL}
};
