/*
 * lframe.c: spans without a Lua object: traced/with, spans that live
 * exactly as long as one call, and enter/leave, spans between two calls.
 *
 * Key idea: the call runs under lua_pcallk with the span's entry on the
 * stack below it, so one continuation (frame_k) ends the span whether the
 * call returns, yields and returns later, or raises; the error value is
 * re-raised unchanged. Such an entry (LS_FRAME) gets a Lua object only when
 * someone asks for the span (current(), active(), hooks). An entered span
 * is a frame entry too, kept on its context stack's entered list until
 * leave ends it: no object to allocate and collect per span.
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

void lsl_span_frame_done(lua_State *L, lsl_state *st, lsl_entry *e, sl_span_status status,
                         const char *err, size_t errlen)
{
    if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN) lsl_span_finish(L, 0, e, status, err, errlen);
    lsl_span_release(st, e);
}

/* Stack: the call's arguments, [base] the entry (light userdata, or nil for
 * a no-op span), then the results, or the error value on top. */
static int frame_k(lua_State *L, int status, lua_KContext kctx)
{
    int base = (int)kctx;
    lsl_entry *e = (lsl_entry *)lua_touserdata(L, base);
    if (e == NULL) {
        if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(L) - base;
        return lua_error(L);
    }
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    if (status == LUA_OK || status == LUA_YIELD) {
        lsl_span_frame_done(L, st, e, SL_STATUS_OK, NULL, 0);
        return lua_gettop(L) - base;
    }
    if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN) {
        int err = lua_gettop(L);
        size_t len;
        const char *msg = lsl_span_error_message(L, err, &len);
        lsl_span_frame_done(L, st, e, SL_STATUS_ERROR, msg, len);
        lua_settop(L, err);
    } else {
        lsl_span_release(st, e);
    }
    return lua_error(L);  /* the original value, unchanged */
}

/* Runs the function at fn_idx with the nargs values from index first inside
 * the frame entry e (NULL: a no-op span): pushes the entry, the function and
 * copies of the arguments (cheaper than moving them for the usual few). */
static int frame_call(lua_State *L, lsl_entry *e, int fn_idx, int first, int nargs)
{
    /* a C function has LUA_MINSTACK free slots: only more need asking for */
    if (nargs + 2 > LUA_MINSTACK) luaL_checkstack(L, nargs + 2, NULL);
    int base = lua_gettop(L) + 1;
    if (e) lua_pushlightuserdata(L, e);
    else lua_pushnil(L);
    lua_pushvalue(L, fn_idx);
    for (int i = 0; i < nargs; i++) lua_pushvalue(L, first + i);
    return frame_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 0, base, frame_k), base);
}

/* What a traced wrapper needs per call, in one upvalue. */
typedef struct lsl_traced {
    lsl_tracer *tr;
    const char *name;   /* the TRACED_NAME string */
    size_t len;
} lsl_traced;

enum { TRACED_INFO = UV_COUNT + 1, TRACED_TRACER, TRACED_NAME, TRACED_FN };

static int traced_call(lua_State *L)
{
    int nargs = lua_gettop(L);
    const lsl_traced *info = (const lsl_traced *)lua_touserdata(L, lua_upvalueindex(TRACED_INFO));
    lsl_entry *e = lsl_span_open(L, info->tr, lua_upvalueindex(TRACED_TRACER), info->name, info->len,
                                 0, 0, 0, "traced", 1);
    return frame_call(L, e, lua_upvalueindex(TRACED_FN), 1, nargs);
}

static void check_callable(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TFUNCTION && luaL_getmetafield(L, idx, "__call") == LUA_TNIL)
        luaL_typeerror(L, idx, "function");
    else if (lua_type(L, idx) != LUA_TFUNCTION)
        lua_pop(L, 1);
}

/* tracer:traced(name, fn) -> wrapper */
int lsl_frame_traced(lua_State *L)
{
    lsl_tracer_check(L, 1);
    luaL_checktype(L, 2, LUA_TSTRING);
    check_callable(L, 3);
    for (int i = 1; i <= UV_COUNT; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lsl_traced *info = (lsl_traced *)lua_newuserdatauv(L, sizeof(lsl_traced), 0);
    info->tr = (lsl_tracer *)lua_touserdata(L, 1);
    info->name = lua_tolstring(L, 2, &info->len);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushcclosure(L, traced_call, UV_COUNT + 4);
    return 1;
}

/* tracer:with(name, fn, ...) -> fn's results */
int lsl_frame_with(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);   /* stays on the stack for the entry */
    check_callable(L, 3);
    int nargs = lua_gettop(L) - 3;
    lsl_entry *e = lsl_span_open(L, tr, 1, name, len, 0, 0, 0, "with", 1);
    return frame_call(L, e, 3, 4, nargs);
}

/* ===== ENTER / LEAVE ===== */

/* An entered span keeps its own copy of its name: the caller's string may
 * be collected before someone asks for the span's object. */
static void own_name(lsl_entry *e, const char *name, size_t len)
{
    char *p = e->name_buf;
    if (len >= sizeof e->name_buf) {
        p = (char *)malloc(len + 1);
        if (p == NULL) len = 0, p = e->name_buf;
        else e->name_heap = p;
    }
    memcpy(p, name, len);
    p[len] = '\0';
    e->name = p;
    e->name_len = len;
}

/* tracer:enter(name [, attrs]) or tracer:enter(name, key, value) */
int lsl_frame_enter(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) luaL_typeerror(L, 2, "string");
    size_t len;
    const char *name = lua_tolstring(L, 2, &len);
    int attrs = 0, pair = 0;
    int t = lua_type(L, 3);
    if (t == LUA_TSTRING) {
        if (lua_gettop(L) < 4) luaL_argexpected(L, 0, 4, "attribute value");
        attrs = 3;
        pair = 1;
    } else if (t == LUA_TTABLE) {
        attrs = 3;
    } else if (t != LUA_TNIL && t != LUA_TNONE) {
        luaL_typeerror(L, 3, "table or string");
    }
    if (tr->t == NULL) return 0;   /* closed: leave will find nothing and say nothing */
    lsl_entry *e = lsl_span_open(L, tr, 1, name, len, attrs, pair, 0, "enter", 1);
    lsl_state *st = tr->st;
    /* open made the span current on this coroutine's stack; look it up
     * only when there is none to go by (a no-op span, or one a start hook
     * ended or closed the tracer under) */
    lsl_stack *sk = e && e->stack ? e->stack : tr->t ? lsl_ctx_stack(lsl_ctx_get(L, st), tr, 1) : NULL;
    if (e == NULL && sk) {
        /* a no-op span (inside an unsampled trace, or not recordable):
         * a marker keeps enter and leave paired */
        e = lsl_entry_take(st);
        if (e == NULL) return 0;
        e->tr = NULL;
        e->stack = NULL;
        e->state = LS_NOOP | LS_FRAME;
    } else if (e == NULL) {
        return 0;
    } else if (sk == NULL) {   /* no memory for a stack (or closed by a hook) */
        lsl_span_frame_done(L, st, e, SL_STATUS_OK, NULL, 0);
        return 0;
    }
    e->state |= LS_ENTERED;
    if (!(e->state & LS_NOOP)) {
        own_name(e, name, len);
    } else {   /* an unsampled root records no name: keep no pointer to the caller's */
        e->name = NULL;
        e->name_len = 0;
    }
    e->enext = sk->entered;
    sk->entered = e;
    return 0;
}

/* tracer:leave([status [, error]]): ends the span this tracer entered last
 * in the running coroutine. */
int lsl_frame_leave(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    size_t errlen;
    const char *err;
    sl_span_status status = lsl_span_status_args(L, 2, &err, &errlen);
    lsl_state *st = tr->st;
    lsl_stack *sk = lsl_ctx_stack(lsl_ctx_get(L, st), tr, 0);
    lsl_entry *e = sk ? sk->entered : NULL;
    if (e == NULL) {
        if (tr->t == NULL) return 0;   /* closed: its spans ended as abandoned */
        return luaL_error(L, "bad call to 'leave' (no span entered with this tracer in this coroutine)");
    }
    sk->entered = e->enext;
    e->enext = NULL;
    lsl_span_frame_done(L, st, e, status, err, errlen);
    return 0;
}

void lsl_frame_forget_entered(lsl_state *st, lsl_stack *sk)
{
    for (lsl_entry *e = sk->entered, *next; e; e = next) {
        next = e->enext;
        e->enext = NULL;
        if (e->stack == NULL) lsl_span_release(st, e);
    }
    sk->entered = NULL;
}
