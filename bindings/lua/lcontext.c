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
    lsl_ctx *ctx = (lsl_ctx *)lua_newuserdatauv(L, sizeof(lsl_ctx), 0);
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
    lsl_stack *sk = ctx->first.tr == NULL ? &ctx->first : (lsl_stack *)calloc(1, sizeof *sk);
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
    if (sk == &sk->ctx->first) memset(sk, 0, sizeof *sk);
    else free(sk);
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
        lsl_frame_forget_entered(tr->st, sk);
        stack_free(sk);
    }
}

/* ===== CURRENT SPAN ===== */

/* What a stack inherited, copied: pushing its object may run a collection
 * step, whose finalizers may free the stack. */
typedef struct inherited {
    const lsl_stack *sk;    /* compared as a key, never dereferenced */
    sl_id id;
    lsl_entry *e;
    uint32_t gen;
} inherited;

static void inherited_of(const lsl_stack *sk, inherited *in)
{
    in->sk = sk;
    in->id = sk->parent.span;
    in->e = sk->inherit_e;
    in->gen = sk->inherit_gen;
}

/* The span object of the creator's span a stack inherited, while it lives:
 * UV_INHERIT maps the stack (light) to it, weakly; the object is checked
 * against the inherited id (the address may be a newer stack's). */
static int push_inherited(lua_State *L, const inherited *in)
{
    if (lua_rawgetp(L, lua_upvalueindex(UV_INHERIT), in->sk) != LUA_TNIL) {
        lsl_spanobj *o = lsl_span_test(L, -1);
        if (o && memcmp(&o->id, &in->id, sizeof(sl_id)) == 0) return 1;
    }
    lua_pop(L, 1);
    /* a traced/with span has no object to keep alive: one is made again
     * while its call runs */
    lsl_entry *e = in->e;
    if (e && e->gen == in->gen && (e->state & LS_OPEN) && (e->state & LS_FRAME)) {
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
    } else if (sk->inherit == CTX_INHERIT_SPAN) {
        inherited in;
        inherited_of(sk, &in);
        if (!push_inherited(L, &in)) lua_pushnil(L);
    } else {
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
    lsl_stack *best = ctx->stacks;
    if (best && best->next == NULL && !best->tr->hidden) {   /* one tracer */
        push_stack_current(L, best);
        return 1;
    }
    best = NULL;
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

/* The new coroutine's stack of cur's tracer inherits cur's current span (C
 * memory only: nothing here runs a collection step). 1 when it inherited
 * a span whose object it may keep. */
static int inherit_stack(lsl_ctx *child, lsl_stack *cur)
{
    int unsampled = (cur->top && (cur->top->state & LS_NOOP)) ||
                    (cur->top == NULL && cur->inherit == CTX_INHERIT_UNSAMPLED);
    if (!unsampled && cur->top == NULL && cur->inherit != CTX_INHERIT_SPAN) return 0;
    lsl_stack *sk = lsl_ctx_stack(child, cur->tr, 1);
    if (sk == NULL) return 0;
    sk->inherit_seq = stack_seq(cur);
    if (unsampled) {
        sk->inherit = CTX_INHERIT_UNSAMPLED;
        return 0;
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
    return 1;
}

/* A stack the child inherited: its tracer, and the creator's stack it
 * inherited from (both compared, never dereferenced, once allocations may
 * have run finalizers that closed a tracer and freed its stacks). */
typedef struct heir {
    lsl_tracer *tr;
    const lsl_stack *from;
} heir;

/* Finds again the objects of the spans the child's stacks inherited (for
 * its current()): the creator's current span's object, or the one the
 * creator inherited itself, kept in UV_INHERIT under the child's stack. */
static void keep_objects(lua_State *L, lsl_ctx *child, const heir *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lsl_stack *sk = lsl_ctx_stack(child, hs[i].tr, 0);
        if (sk == NULL || sk->inherit != CTX_INHERIT_SPAN) continue;
        inherited in;
        inherited_of(sk, &in);
        lsl_entry *e = in.e;
        if (e && e->gen == in.gen && (e->state & LS_OPEN)) {
            lsl_span_push_object(L, e);
        } else {
            inherited from = in;
            from.sk = hs[i].from;
            if (!push_inherited(L, &from)) lua_pushnil(L);
        }
        if (lua_isnil(L, -1)) lua_pop(L, 1);
        else lua_rawsetp(L, lua_upvalueindex(UV_INHERIT), in.sk);
    }
}

void lsl_ctx_inherit(lua_State *L, lsl_state *st, lua_State *co, int hooked_only)
{
    int base = lua_gettop(L);
    lsl_ctx *child = ctx_new(L, st, co);          /* base + 1: ctx */
    lsl_ctx *cur = lsl_ctx_get(L, st);
    heir local[16], *hs = local;
    size_t n = 0, cap = 16;
    /* C memory only in this loop: no collection step can free cur's stacks */
    for (lsl_stack *sk = cur->stacks; sk; sk = sk->next) {
        if (sk->tr->t == NULL || (hooked_only && !sk->tr->hook_fns)) continue;
        if (!inherit_stack(child, sk)) continue;
        if (n == cap) {
            heir *p = (heir *)malloc(2 * cap * sizeof *p);
            if (p == NULL) continue;   /* its parent is inherited, its object not kept */
            memcpy(p, hs, n * sizeof *p);
            if (hs != local) free(hs);
            hs = p;
            cap *= 2;
        }
        hs[n].tr = sk->tr;
        hs[n].from = sk;
        n++;
    }
    if (n) keep_objects(L, child, hs, n);
    if (hs != local) free(hs);
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
        lsl_frame_forget_entered(st, sk);   /* the ones on the stack: below */
        lsl_entry *e = sk->top;
        sk->top = NULL;
        while (e) {
            lsl_entry *below = e->below;
            e->stack = NULL;
            e->above = e->below = NULL;
            if (e->state & LS_FRAME) {
                if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN && e->tr && e->tr->t) {
                    lsl_span_orphan_object(L, e);
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
