/*
 * lcontext.c: the current span of each tracer in each coroutine, kept in C.
 *
 * Each coroutine has an lsl_ctx (weak-keyed table thread -> ctx) holding one
 * stack per tracer that has used it: an intrusive stack of raw entry
 * pointers, weak by construction. A span's parent is the top of its own
 * tracer's stack, so two tracers in one program never adopt each other's
 * spans (only an explicit opts.parent crosses tracers). Lookups hit a
 * one-entry cache, validated by the ctx pointer stamped in the thread's extra
 * space (a new thread at a recycled address carries another stamp); the
 * tracer's stack is the first of the list in a program with one tracer.
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

_Static_assert(LUA_EXTRASPACE >= sizeof(void *), "spanline stamps a pointer in LUA_EXTRASPACE");

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

/* ===== STACKS ===== */

lsl_stack *lsl_ctx_stack_slow(lsl_ctx *ctx, lsl_tracer *tr, int create)
{
    lsl_stack **pp = &ctx->stacks;
    for (lsl_stack *sk = *pp; sk; pp = &sk->next, sk = *pp) {
        if (sk->tr != tr) continue;
        /* to the front: the tracer in use now is likely the next one asked */
        *pp = sk->next;
        sk->next = ctx->stacks;
        ctx->stacks = sk;
        return sk;
    }
    if (!create || tr->t == NULL) return NULL;   /* a closed tracer was forgotten */
    lsl_stack *sk = (lsl_stack *)calloc(1, sizeof *sk);
    if (sk == NULL) return NULL;
    sk->tr = tr;
    sk->ctx = ctx;
    sk->next = ctx->stacks;
    ctx->stacks = sk;
    sk->tnext = tr->stacks;
    if (tr->stacks) tr->stacks->tprev = sk;
    tr->stacks = sk;
    return sk;
}

/* Unlinks sk from its ctx and its tracer and frees it; its entries are left
 * to the caller. */
static void stack_free(lsl_stack *sk)
{
    lsl_stack **pp = &sk->ctx->stacks;
    while (*pp && *pp != sk) pp = &(*pp)->next;
    if (*pp) *pp = sk->next;
    if (sk->tprev) sk->tprev->tnext = sk->tnext;
    else if (sk->tr->stacks == sk) sk->tr->stacks = sk->tnext;
    if (sk->tnext) sk->tnext->tprev = sk->tprev;
    free(sk);
}

void lsl_ctx_push(lsl_stack *sk, lsl_entry *e)
{
    e->stack = sk;
    e->seq = ++sk->ctx->st->seq;
    e->below = sk->top;
    e->above = NULL;
    if (sk->top) sk->top->above = e;
    sk->top = e;
}

/* Removes e from wherever it is in its stack: ending a span that is not on
 * top leaves the spans above it current, now over its parent. */
void lsl_ctx_unlink(lsl_entry *e)
{
    lsl_stack *sk = e->stack;
    if (sk == NULL) return;
    if (e->above) e->above->below = e->below;
    else sk->top = e->below;
    if (e->below) e->below->above = e->above;
    e->stack = NULL;
    e->above = e->below = NULL;
}

/* Runs after the tracer's open spans were ended (lsl_span_abandon_all):
 * what is left on its stacks are unsampled roots, which carry no record. */
void lsl_ctx_forget_tracer(lsl_tracer *tr)
{
    while (tr->stacks) {
        lsl_stack *sk = tr->stacks;
        while (sk->top) lsl_ctx_unlink(sk->top);
        stack_free(sk);
    }
}

/* ===== CURRENT SPAN ===== */

/* The span object of the creator's span that sk inherited, while it lives:
 * ctx's uservalue is a weak table tracer (light) -> span object, checked
 * against the inherited id (the tracer's address may be a new tracer's). */
static int push_inherited(lua_State *L, lsl_stack *sk)
{
    int base = lua_gettop(L);
    lua_pushthread(L);
    lua_rawget(L, lua_upvalueindex(UV_CTXS));
    if (lua_getiuservalue(L, -1, 1) == LUA_TTABLE && lua_rawgetp(L, -1, sk->tr) != LUA_TNIL) {
        lsl_spanobj *o = lsl_span_test(L, -1);
        if (o && memcmp(&o->id.id, &sk->parent.span, sizeof(sl_id)) == 0) {
            lua_replace(L, base + 1);
            lua_settop(L, base + 1);
            return 1;
        }
    }
    lua_settop(L, base);
    /* a traced/with span has no object to keep alive: one is made again
     * while its call runs */
    lsl_entry *e = sk->inherit_e;
    if (e && e->gen == sk->inherit_gen && (e->state & LS_OPEN) && (e->state & LS_FRAME)) {
        lsl_span_push_object(L, e);
        return 1;
    }
    return 0;
}

static void push_stack_current(lua_State *L, lsl_stack *sk)
{
    if (sk == NULL) {
        lua_pushnil(L);
    } else if (sk->top) {
        lsl_span_push_object(L, sk->top);
    } else if (sk->inherit == CTX_INHERIT_UNSAMPLED) {
        lua_pushvalue(L, lua_upvalueindex(UV_NOOP));
    } else if (sk->inherit != CTX_INHERIT_SPAN || !push_inherited(L, sk)) {
        lua_pushnil(L);
    }
}

void lsl_ctx_push_current(lua_State *L, lsl_ctx *ctx, lsl_tracer *tr)
{
    push_stack_current(L, lsl_ctx_stack(ctx, tr, 0));
}

/* When sk's current span was made current (0: it has none). */
static uint64_t stack_seq(const lsl_stack *sk)
{
    if (sk->top) return sk->top->seq;
    return sk->inherit != CTX_INHERIT_NONE ? sk->inherit_seq : 0;
}

/* core.current() -> the innermost current span of the running coroutine,
 * whichever tracer started it (the one made current last; hidden tracers
 * excepted), or nil. */
static int l_current(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lsl_ctx *ctx = lsl_ctx_get(L, st);
    lsl_stack *best = NULL;
    uint64_t best_seq = 0;
    for (lsl_stack *sk = ctx->stacks; sk; sk = sk->next) {
        if (sk->tr->hidden) continue;
        uint64_t seq = stack_seq(sk);
        if (seq > best_seq) {
            best = sk;
            best_seq = seq;
        }
    }
    push_stack_current(L, best);
    return 1;
}

/* core.lane(): the lane number of the running coroutine (main: 1). */
static int l_lane(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lua_pushinteger(L, lsl_ctx_get(L, st)->lane);
    return 1;
}

/* ===== COROUTINES ===== */

/* The new coroutine's stack of cur's tracer inherits cur's current span;
 * its object (if any) goes into the weak table on the top of L. */
static void inherit_stack(lua_State *L, lsl_ctx *child, lsl_stack *cur)
{
    int unsampled = (cur->top && (cur->top->state & LS_NOOP)) ||
                    (cur->top == NULL && cur->inherit == CTX_INHERIT_UNSAMPLED);
    if (!unsampled && cur->top == NULL && cur->inherit != CTX_INHERIT_SPAN) return;
    lsl_stack *sk = lsl_ctx_stack(child, cur->tr, 1);
    if (sk == NULL) return;
    sk->inherit_seq = stack_seq(cur);
    if (unsampled) {
        sk->inherit = CTX_INHERIT_UNSAMPLED;
        return;
    }
    sk->inherit = CTX_INHERIT_SPAN;
    if (cur->top) {
        lsl_parent_of(&cur->top->s, &sk->parent);
        sk->inherit_e = cur->top;
        sk->inherit_gen = cur->top->gen;
    } else {
        sk->parent = cur->parent;
        sk->inherit_e = cur->inherit_e;
        sk->inherit_gen = cur->inherit_gen;
    }
    push_stack_current(L, cur);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_rawsetp(L, -2, cur->tr);
}

void lsl_ctx_inherit(lua_State *L, lsl_state *st, lua_State *co, int hooked_only)
{
    lsl_ctx *cur = lsl_ctx_get(L, st);
    int base = lua_gettop(L);
    lsl_ctx *ctx = ctx_new(L, st, co);            /* base + 1: ctx */
    if (cur->stacks) {
        lua_createtable(L, 0, 1);                 /* weak {tracer -> span} */
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        /* no collection step while walking the stacks: the finalizer of a
         * tracer nobody references any more would free its stacks */
        int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
        lua_gc(L, LUA_GCSTOP);
        for (lsl_stack *sk = cur->stacks; sk; sk = sk->next)
            if (sk->tr->t && (!hooked_only || sk->tr->hook_fns)) inherit_stack(L, ctx, sk);
        if (gc_was_running) lua_gc(L, LUA_GCRESTART);
        lua_setiuservalue(L, base + 1, 1);
    }
    lua_settop(L, base);
}

/* core.coroutine_create(fn): coroutine.create, and for each tracer the new
 * coroutine's spans have that tracer's current span of the running
 * coroutine as their parent. */
static int l_coroutine_create(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    lua_State *co = lua_newthread(L);           /* 2: thread */
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lsl_ctx_inherit(L, st, co, 0);
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
    while (ctx->stacks) {
        lsl_stack *sk = ctx->stacks;
        lsl_entry *e = sk->top;
        sk->top = NULL;
        while (e) {
            lsl_entry *below = e->below;
            e->stack = NULL;
            e->above = e->below = NULL;
            if (e->state & LS_FRAME) {
                if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN && e->tr && e->tr->t) {
                    lsl_span_end(L, e, SL_STATUS_ABANDONED, NULL, 0);
                    ended = 1;
                }
                lsl_span_release(st, e);
            }
            e = below;
        }
        stack_free(sk);
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
