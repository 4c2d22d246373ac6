/*
 * lcontext.c: the current span of each coroutine, kept in C.
 *
 * Each coroutine has an lsl_ctx (weak-keyed table thread -> ctx) holding an
 * intrusive stack of raw span pointers: weak by construction. Lookups hit a
 * one-entry cache, validated by the ctx pointer stamped in the thread's extra
 * space (a new thread at a recycled address carries another stamp).
 */
#include <string.h>

#include "ltrace.h"

static lsl_ctx *ctx_new(lua_State *L, lsl_state *st, lua_State *co)
{
    lsl_ctx *ctx = (lsl_ctx *)lua_newuserdatauv(L, sizeof(lsl_ctx), 1);
    memset(ctx, 0, sizeof *ctx);
    ctx->L = co;
    ctx->st = st;
    ctx->lane = lua_pushthread(co) ? 1u : ++st->next_lane;
    lua_pop(co, 1);
    lua_pushvalue(L, lua_upvalueindex(UV_CTX_MT));
    lua_setmetatable(L, -2);
    /* ctxs[thread] = ctx (the ctx userdata is on the top of L) */
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, lua_upvalueindex(UV_CTXS));
    *(void **)lua_getextraspace(co) = ctx;
    return ctx;
}

lsl_ctx *lsl_ctx_get_slow(lua_State *L, lsl_state *st)
{
    lua_pushthread(L);
    lua_rawget(L, lua_upvalueindex(UV_CTXS));
    lsl_ctx *ctx = (lsl_ctx *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (ctx == NULL) {
        ctx = ctx_new(L, st, L);
        lua_pop(L, 1);
    } else {
        *(void **)lua_getextraspace(L) = ctx;
    }
    st->last_L = L;
    st->last_ctx = ctx;
    return ctx;
}

void lsl_ctx_push(lsl_ctx *ctx, lsl_entry *sp)
{
    sp->ctx = ctx;
    sp->below = ctx->top;
    sp->above = NULL;
    if (ctx->top) ctx->top->above = sp;
    ctx->top = sp;
}

/* Removes sp from wherever it is in its stack: ending a span that is not on
 * top leaves the spans above it current, now over its parent. */
void lsl_ctx_unlink(lsl_entry *sp)
{
    lsl_ctx *ctx = sp->ctx;
    if (ctx == NULL) return;
    if (sp->above) sp->above->below = sp->below;
    else ctx->top = sp->below;
    if (sp->below) sp->below->above = sp->above;
    sp->ctx = NULL;
    sp->above = sp->below = NULL;
}

void lsl_ctx_push_current(lua_State *L, lsl_ctx *ctx)
{
    if (ctx->top) {
        lsl_span_push_object(L, ctx->top);
    } else if (ctx->inherit == CTX_INHERIT_UNSAMPLED) {
        lua_pushvalue(L, lua_upvalueindex(UV_NOOP));
    } else if (ctx->inherit == CTX_INHERIT_SPAN) {
        /* the creator's span, while it lives (uservalue: a weak table) */
        int base = lua_gettop(L);
        lua_pushthread(L);
        lua_rawget(L, lua_upvalueindex(UV_CTXS));
        if (lua_getiuservalue(L, -1, 1) == LUA_TTABLE && lua_rawgeti(L, -1, 1) != LUA_TNIL) {
            lua_replace(L, base + 1);
            lua_settop(L, base + 1);
            return;
        }
        lua_settop(L, base);
        /* a traced/with span has no object to keep alive: one is made
         * again while its call runs */
        lsl_entry *e = ctx->inherit_e;
        if (e && e->gen == ctx->inherit_gen && (e->state & LS_OPEN) && (e->state & LS_FRAME))
            lsl_span_push_object(L, e);
        else
            lua_pushnil(L);
    } else {
        lua_pushnil(L);
    }
}

static int l_current(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lsl_ctx_push_current(L, lsl_ctx_get(L, st));
    return 1;
}

/* core.lane(): the lane number of the running coroutine (main: 1). */
static int l_lane(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lua_pushinteger(L, lsl_ctx_get(L, st)->lane);
    return 1;
}

void lsl_ctx_inherit(lua_State *L, lsl_state *st, lua_State *co)
{
    lsl_ctx *cur = lsl_ctx_get(L, st);
    lsl_ctx *ctx = ctx_new(L, st, co);            /* pushed */
    int ctx_idx = lua_gettop(L);
    if ((cur->top && (cur->top->state & LS_NOOP)) ||
        (cur->top == NULL && cur->inherit == CTX_INHERIT_UNSAMPLED)) {
        ctx->inherit = CTX_INHERIT_UNSAMPLED;
    } else if (cur->top || cur->inherit == CTX_INHERIT_SPAN) {
        ctx->inherit = CTX_INHERIT_SPAN;
        if (cur->top) {
            sl_span_context(&cur->top->s, &ctx->parent);
            ctx->inherit_e = cur->top;
            ctx->inherit_gen = cur->top->gen;
        } else {
            ctx->parent = cur->parent;
            ctx->inherit_e = cur->inherit_e;
            ctx->inherit_gen = cur->inherit_gen;
        }
        lua_createtable(L, 1, 0);                 /* weak {span} */
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lsl_ctx_push_current(L, cur);
        lua_rawseti(L, -2, 1);
        lua_setiuservalue(L, ctx_idx, 1);
    }
    lua_settop(L, ctx_idx - 1);
}

/* core.coroutine_create(fn): coroutine.create, and the new coroutine's
 * spans have the current span of the running coroutine as their parent. */
static int l_coroutine_create(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lua_State *co = lua_newthread(L);           /* 2: thread */
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lsl_ctx_inherit(L, st, co);
    return 1;
}

/* A collected coroutine leaves its open spans open but current nowhere;
 * the spans of its traced/with calls can never end now: abandoned. */
static int l_ctx_gc(lua_State *L)
{
    lsl_ctx *ctx = (lsl_ctx *)lua_touserdata(L, 1);
    lsl_state *st = ctx->st;
    if (st->last_ctx == ctx) {
        st->last_ctx = NULL;
        st->last_L = NULL;
    }
    /* no Lua runs in this loop (output is delivered after it) */
    int ended = 0;
    lsl_entry *sp = ctx->top;
    ctx->top = NULL;
    while (sp) {
        lsl_entry *below = sp->below;
        sp->ctx = NULL;
        sp->above = sp->below = NULL;
        if (sp->state & LS_FRAME) {
            if ((sp->state & (LS_OPEN | LS_NOOP)) == LS_OPEN && sp->tr && sp->tr->t) {
                lsl_span_end(L, sp, SL_STATUS_ABANDONED, NULL, 0);
                ended = 1;
            }
            lsl_span_release(st, sp);
        }
        sp = below;
    }
    if (ended) lsl_tracer_deliver_all(L, st);
    return 0;
}

const luaL_Reg lsl_ctx_module[] = {
    {"current", l_current},
    {"lane", l_lane},
    {"coroutine_create", l_coroutine_create},
    {NULL, NULL}
};

const luaL_Reg lsl_ctx_meta[] = {
    {"__gc", l_ctx_gc},
    {NULL, NULL}
};
