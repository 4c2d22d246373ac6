/*
 * span.c: span userdata (start, attributes, events, finish, abandon) and
 * traced/with.
 *
 * Key idea: the userdata embeds the sl_span the core writes through (one Lua
 * allocation, no malloc); while open it has a weak slot so current()/active()
 * can hand it back, and finishing swaps in a metatable without __gc.
 */
#include <string.h>

#include "ltracer.h"

/* ===== SLOTS (open span -> its userdata, weakly) ===== */

static int slot_take(lua_State *L, l_state *st)
{
    if (st->nfree > 0) return st->free_slots[--st->nfree];
    (void)L;
    return ++st->max_slot;
}

static void slot_release(lua_State *L, l_state *st, int slot)
{
    lua_pushnil(L);
    lua_rawseti(L, lua_upvalueindex(UV_WEAK), slot);
    if (st->nfree == st->capfree) {
        size_t cap = st->capfree ? st->capfree * 2 : 64;
        void *ud;
        lua_Alloc f = lua_getallocf(L, &ud);
        int *p = (int *)f(ud, st->free_slots, st->capfree * sizeof(int), cap * sizeof(int));
        if (p == NULL) return;  /* the slot leaks; the next one is fresh */
        st->free_slots = p;
        st->capfree = cap;
    }
    st->free_slots[st->nfree++] = slot;
}

/* ===== SPANS ===== */

l_span *sl_lspan_test(lua_State *L, int idx)
{
    l_span *sp = (l_span *)lua_touserdata(L, idx);
    if (sp == NULL || !lua_getmetatable(L, idx)) return NULL;
    int ok = lua_rawequal(L, -1, lua_upvalueindex(UV_SPAN_MT)) ||
             lua_rawequal(L, -1, lua_upvalueindex(UV_DONE_MT));
    lua_pop(L, 1);
    return ok ? sp : NULL;
}

l_span *sl_lspan_check(lua_State *L, int idx)
{
    l_span *sp = sl_lspan_test(L, idx);
    if (sp == NULL) luaL_typeerror(L, idx, "spanline.span");
    return sp;
}

static void tracer_link(l_tracer *tr, l_span *sp)
{
    sp->tr = tr;
    sp->tprev = NULL;
    sp->tnext = tr->open;
    if (tr->open) tr->open->tprev = sp;
    tr->open = sp;
}

static void tracer_unlink(l_span *sp)
{
    l_tracer *tr = sp->tr;
    if (tr == NULL) return;
    if (sp->tprev) sp->tprev->tnext = sp->tnext;
    else tr->open = sp->tnext;
    if (sp->tnext) sp->tnext->tprev = sp->tprev;
    sp->tprev = sp->tnext = NULL;
}

/* Sampling: a fresh 64-bit draw per trace, the same distribution as the
 * random tail of a trace id, compared with sample * 2^64. */
static int sample_trace(l_tracer *tr)
{
    uint64_t s1 = tr->rng[0];
    const uint64_t s0 = tr->rng[1];
    const uint64_t r = s0 + s1;
    tr->rng[0] = s0;
    s1 ^= s1 << 23;
    tr->rng[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return (double)(r >> 11) < tr->sample * 9007199254740992.0;  /* 2^53 */
}

static void push_noop(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(UV_NOOP));
}

/* The root of an unsampled trace. Made current, it is a small span object
 * of its own (no sl_span, no record) on the context stack, so its children
 * get the shared no-op span for free and the decision ends when it ends or
 * is collected; otherwise it is the shared no-op span too. */
static void push_unsampled_root(lua_State *L, l_ctx *ctx, int current)
{
    if (!current) {
        push_noop(L);
        return;
    }
    l_span *sp = (l_span *)lua_newuserdatauv(L, sizeof(l_span), 0);
    memset(sp, 0, sizeof *sp);
    sp->state = LS_NOOP | LS_UNSAMPLED | LS_OPEN;
    lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
    lua_setmetatable(L, -2);
    sp->slot = slot_take(L, ctx->st);
    lua_pushvalue(L, -1);
    lua_rawseti(L, lua_upvalueindex(UV_WEAK), sp->slot);
    sl_lctx_push(ctx, sp);
}

void sl_lspan_open(lua_State *L, l_tracer *tr, int tr_idx, const char *name, size_t len,
                   int attrs_idx, int opts_idx, const char *fname)
{
    l_state *st = tr->st;
    l_ctx *ctx = sl_lctx_get(L, st);
    sl_context pctx;
    const sl_context *parent = NULL;
    int current = 1, explicit_parent = 0;

    if (opts_idx) {
        if (lua_getfield(L, opts_idx, "current") != LUA_TNIL && !lua_toboolean(L, -1)) current = 0;
        lua_pop(L, 1);
        if (lua_getfield(L, opts_idx, "root") != LUA_TNIL && lua_toboolean(L, -1)) explicit_parent = 1;
        lua_pop(L, 1);
        int t = lua_getfield(L, opts_idx, "parent");
        if (t == LUA_TSTRING) {
            size_t plen;
            const char *p = lua_tolstring(L, -1, &plen);
            if (sl_traceparent_parse(p, plen, &pctx) != SL_OK)
                luaL_error(L, "bad option 'parent' to '%s' (invalid traceparent '%s')", fname, p);
            explicit_parent = 1;
            if (tr->sampling && !(pctx.flags & 1)) {
                lua_pop(L, 1);
                push_unsampled_root(L, ctx, current);
                return;
            }
            parent = &pctx;
        } else if (t != LUA_TNIL) {
            l_span *ps = sl_lspan_test(L, -1);
            if (ps == NULL)
                luaL_error(L, "bad option 'parent' to '%s' (span or traceparent string expected, got %s)",
                           fname, luaL_typename(L, -1));
            explicit_parent = 1;
            if (ps->state & LS_NOOP) {
                lua_pop(L, 1);
                push_noop(L);
                return;
            }
            sl_span_context(&ps->s, &pctx);
            parent = &pctx;
        }
        lua_pop(L, 1);
    }
    if (!explicit_parent) {
        if (ctx->top && (ctx->top->state & LS_NOOP)) {
            push_noop(L);   /* inside an unsampled trace */
            return;
        }
        if (ctx->top) {
            sl_span_context(&ctx->top->s, &pctx);
            parent = &pctx;
        } else if (ctx->inherit == CTX_INHERIT_SPAN) {
            parent = &ctx->parent;
        } else if (ctx->inherit == CTX_INHERIT_UNSAMPLED) {
            push_noop(L);
            return;
        }
    }
    if (tr->t == NULL) {
        /* closed: tracing never breaks the program. Not made current: this
         * is no sampling decision for the children (other tracers) */
        push_noop(L);
        return;
    }
    if (parent == NULL && tr->sampling && !sample_trace(tr)) {
        tr->unsampled++;
        push_unsampled_root(L, ctx, current);
        return;
    }

    l_span *sp = (l_span *)lua_newuserdatauv(L, sizeof(l_span) + len, 1);
    sp->tr = NULL;
    sp->ctx = NULL;
    sp->below = sp->above = NULL;
    sp->state = 0;
    sp->slot = 0;
    sp->name_len = len;
    memcpy(sp->name, name, len);
    sp->name[len] = '\0';
    lua_pushvalue(L, tr_idx);
    lua_setiuservalue(L, -2, 1);
    lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
    lua_setmetatable(L, -2);

    /* After the allocation: a collection step there may run finalizers
     * that use the attribute scratch themselves. */
    const sl_attr *attrs = NULL;
    size_t nattrs = 0;
    if (attrs_idx) attrs = sl_lattrs_from_table(L, attrs_idx, &nattrs, fname);

    sl_start_opts o;
    o.parent = parent;
    o.lane = ctx->lane;
    o.attrs = attrs;
    o.nattrs = nattrs;
    o.ts = 0;
    tr->L = L;
    int rc = sl_span_begin(tr->t, &sp->s, name, len, &o);
    if (rc != SL_OK) {
        /* Could not record (closed, out of memory): hand back the no-op
         * span rather than break the program. */
        lua_pushvalue(L, lua_upvalueindex(UV_DONE_MT));
        lua_setmetatable(L, -2);
        lua_pop(L, 1);
        push_noop(L);
        return;
    }
    sp->state = LS_OPEN;
    tracer_link(tr, sp);
    sp->slot = slot_take(L, st);
    lua_pushvalue(L, -1);
    lua_rawseti(L, lua_upvalueindex(UV_WEAK), sp->slot);
    if (current) sl_lctx_push(ctx, sp);
    if (tr->nhooks[HOOK_START]) {
        lua_pushvalue(L, -1);
        sl_ltracer_run_hooks(L, tr, tr_idx, HOOK_START, 0);
    }
    if (tr->pending_len) sl_ltracer_deliver(L, tr);
}

/* Detaches sp from its context, its tracer and its slot. */
static void span_detach(lua_State *L, l_span *sp)
{
    sl_lctx_unlink(sp);
    tracer_unlink(sp);
    if (sp->slot) {
        slot_release(L, sp->tr ? sp->tr->st : (l_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE)),
                     sp->slot);
        sp->slot = 0;
    }
}

void sl_lspan_end(lua_State *L, l_span *sp, sl_span_status status, const char *err, size_t errlen)
{
    l_tracer *tr = sp->tr;
    span_detach(L, sp);
    sp->state &= ~LS_OPEN;
    sp->tr = NULL;
    tr->L = L;
    sl_span_end(&sp->s, status, err, errlen);
}

void sl_lspan_abandon_all(lua_State *L, l_tracer *tr)
{
    while (tr->open) {
        l_span *sp = tr->open;
        sl_lspan_end(L, sp, SL_STATUS_ABANDONED, NULL, 0);
        sp->state |= LS_CLOSED;
    }
}

/* Finish with hooks; the span userdata is at idx. */
static void span_finish(lua_State *L, int idx, l_span *sp, sl_span_status status,
                        const char *err, size_t errlen)
{
    l_tracer *tr = sp->tr;
    if (tr->nhooks[HOOK_END]) {
        if (sp->state & LS_ENDING) return;   /* finish() from its own end hook */
        sp->state |= LS_ENDING;
        lua_getiuservalue(L, idx, 1);
        int tr_idx = lua_gettop(L);
        lua_pushvalue(L, idx);
        lua_pushstring(L, status == SL_STATUS_OK ? "ok" : "error");
        if (err) lua_pushlstring(L, err, errlen);
        else lua_pushnil(L);
        sl_ltracer_run_hooks(L, tr, tr_idx, HOOK_END, 2);
        lua_pop(L, 1);
        sp->state &= ~LS_ENDING;
        if (!(sp->state & LS_OPEN)) return;  /* a hook ended it */
    }
    sl_lspan_end(L, sp, status, err, errlen);
    lua_pushvalue(L, lua_upvalueindex(UV_DONE_MT));
    lua_setmetatable(L, idx);
    if (tr->pending_len) sl_ltracer_deliver(L, tr);
}

/* Ends a no-op span: only an unsampled root has anything to undo. The
 * span userdata is at idx. */
static void noop_end(lua_State *L, int idx, l_span *sp)
{
    if (!(sp->state & LS_OPEN)) return;
    span_detach(L, sp);
    sp->state &= ~LS_OPEN;
    lua_pushvalue(L, lua_upvalueindex(UV_DONE_MT));
    lua_setmetatable(L, idx);
}

static int l_span_finish(lua_State *L)
{
    l_span *sp = sl_lspan_check(L, 1);
    static const char *const statuses[] = {"ok", "error", NULL};
    sl_span_status status = SL_STATUS_OK;
    size_t errlen = 0;
    const char *err = NULL;
    if (lua_gettop(L) > 1) {
        status = (sl_span_status)luaL_checkoption(L, 2, "ok", statuses);
        if (!lua_isnoneornil(L, 3)) err = luaL_tolstring(L, 3, &errlen);
    }
    if (sp->state & LS_NOOP) {
        noop_end(L, 1, sp);
        return 0;
    }
    if (!(sp->state & LS_OPEN)) {
        if (sp->state & LS_CLOSED) return 0;   /* the tracer closed first */
        return luaL_error(L, "span '%s' already finished", sp->name);
    }
    span_finish(L, 1, sp, status, err, errlen);
    return 0;
}

/* The open, recorded span at 1, or NULL for the no-op span; raises on an
 * ended one (fname names the method). */
static l_span *check_writable(lua_State *L, const char *fname)
{
    l_span *sp = sl_lspan_check(L, 1);
    if (sp->state & LS_NOOP) return NULL;
    if (!(sp->state & LS_OPEN)) {
        if (sp->state & LS_CLOSED) return NULL;
        luaL_error(L, "bad self to '%s' (span '%s' already finished)", fname, sp->name);
    }
    return sp;
}

static int l_span_set(lua_State *L)
{
    l_span *sp = check_writable(L, "set");
    const sl_attr *attrs;
    size_t n = 1;
    lua_settop(L, 3);
    if (lua_type(L, 2) == LUA_TTABLE) {
        if (sp == NULL) { lua_settop(L, 1); return 1; }
        attrs = sl_lattrs_from_table(L, 2, &n, "set");
    } else {
        size_t klen;
        const char *key = luaL_checklstring(L, 2, &klen);
        if (sp == NULL) { lua_settop(L, 1); return 1; }
        attrs = sl_lattrs_from_pair(L, key, klen, 3, "set");
    }
    if (n > 0) {
        sp->tr->L = L;
        sl_span_attrs(&sp->s, attrs, n);
        if (sp->tr->pending_len) sl_ltracer_deliver(L, sp->tr);
    }
    lua_settop(L, 1);
    return 1;
}

static int l_span_event(lua_State *L)
{
    l_span *sp = check_writable(L, "event");
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    if (sp == NULL) {
        lua_settop(L, 1);
        return 1;
    }
    const sl_attr *attrs = NULL;
    size_t n = 0;
    if (!lua_isnoneornil(L, 3)) attrs = sl_lattrs_from_table(L, 3, &n, "event");
    sp->tr->L = L;
    sl_span_event(&sp->s, name, len, attrs, n);
    l_tracer *tr = sp->tr;
    if (tr->nhooks[HOOK_EVENT]) {
        lua_settop(L, 3);
        lua_getiuservalue(L, 1, 1);                 /* 4: tracer */
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        sl_ltracer_run_hooks(L, tr, 4, HOOK_EVENT, 2);
    }
    if (tr->pending_len) sl_ltracer_deliver(L, tr);
    lua_settop(L, 1);
    return 1;
}

static void push_hex(lua_State *L, const sl_id *id, int short16)
{
    char hex[33];
    sl_id_to_hex(id, hex);
    if (short16) lua_pushlstring(L, hex + 16, 16);
    else lua_pushlstring(L, hex, 32);
}

static l_span *check_recorded(lua_State *L)
{
    l_span *sp = sl_lspan_check(L, 1);
    return (sp->state & LS_NOOP) ? NULL : sp;
}

static int l_span_id(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    push_hex(L, &sp->s.id, 0);
    return 1;
}

static int l_span_trace_id(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    push_hex(L, &sp->s.trace, 0);
    return 1;
}

static int l_span_parent_id(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL || !(sp->s.flags & SL_SPAN_HAS_PARENT)) return 0;
    push_hex(L, &sp->s.parent.span, sp->s.parent.remote);
    return 1;
}

static int l_span_traceparent(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    sl_context c;
    char out[SL_TRACEPARENT_LEN + 1];
    sl_span_context(&sp->s, &c);
    sl_traceparent_format(&c, out);
    lua_pushlstring(L, out, SL_TRACEPARENT_LEN);
    return 1;
}

static int l_span_name(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    lua_pushlstring(L, sp->name, sp->name_len);
    return 1;
}

static int l_span_lane(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    lua_pushinteger(L, sp->s.lane);
    return 1;
}

static int l_span_start_ns(lua_State *L)
{
    l_span *sp = check_recorded(L);
    if (sp == NULL) return 0;
    lua_pushinteger(L, (lua_Integer)sp->s.start_ns);
    return 1;
}

static int l_span_is_open(lua_State *L)
{
    l_span *sp = sl_lspan_check(L, 1);
    lua_pushboolean(L, (sp->state & LS_OPEN) != 0);
    return 1;
}

static int l_span_is_recording(lua_State *L)
{
    l_span *sp = sl_lspan_check(L, 1);
    lua_pushboolean(L, (sp->state & LS_NOOP) == 0);
    return 1;
}

static int l_span_tostring(lua_State *L)
{
    l_span *sp = sl_lspan_check(L, 1);
    if (sp->state & LS_NOOP) {
        lua_pushstring(L, (sp->state & LS_UNSAMPLED) ? "spanline.span (no-op, unsampled root)"
                                                      : "spanline.span (no-op)");
    } else {
        char hex[33];
        sl_id_to_hex(&sp->s.id, hex);
        lua_pushfstring(L, "spanline.span '%s' %s (%s)", sp->name, hex,
                        (sp->state & LS_OPEN) ? "open" : "ended");
    }
    return 1;
}

/* Collected while open: nobody can finish it any more. */
static int l_span_gc(lua_State *L)
{
    l_span *sp = (l_span *)lua_touserdata(L, 1);
    if (sp == NULL || !(sp->state & LS_OPEN)) return 0;
    if (sp->tr == NULL || sp->tr->t == NULL) {
        span_detach(L, sp);
        sp->state &= ~LS_OPEN;
        return 0;
    }
    l_tracer *tr = sp->tr;
    sl_lspan_end(L, sp, SL_STATUS_ABANDONED, NULL, 0);
    if (tr->pending_len) sl_ltracer_deliver(L, tr);
    return 0;
}

/* ===== TRACED / WITH ===== */

/* Stack: [1] span, [2..] results or the error value on top. */
static int traced_k(lua_State *L, int status, lua_KContext kctx)
{
    (void)kctx;
    l_span *sp = (l_span *)lua_touserdata(L, 1);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (sp->state & LS_NOOP) noop_end(L, 1, sp);
        else if (sp->state & LS_OPEN) span_finish(L, 1, sp, SL_STATUS_OK, NULL, 0);
        return lua_gettop(L) - 1;
    }
    if (sp->state & LS_NOOP) {
        noop_end(L, 1, sp);
    } else if (sp->state & LS_OPEN) {
        int e = lua_gettop(L);
        size_t len;
        const char *msg;
        int t = lua_type(L, e);
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            lua_pushvalue(L, e);
            msg = lua_tolstring(L, -1, &len);
        } else if (luaL_getmetafield(L, e, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
            msg = luaL_tolstring(L, e, &len);
        } else {
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, e));
            len = strlen(msg);
        }
        span_finish(L, 1, sp, SL_STATUS_ERROR, msg, len);
        lua_settop(L, e);
    }
    return lua_error(L);  /* the original value, unchanged */
}

enum { TRACED_TRACER = UV_COUNT + 1, TRACED_NAME, TRACED_FN };

static int traced_call(lua_State *L)
{
    int nargs = lua_gettop(L);
    l_tracer *tr = (l_tracer *)lua_touserdata(L, lua_upvalueindex(TRACED_TRACER));
    size_t len;
    const char *name = lua_tolstring(L, lua_upvalueindex(TRACED_NAME), &len);
    luaL_checkstack(L, 4, NULL);
    sl_lspan_open(L, tr, lua_upvalueindex(TRACED_TRACER), name, len, 0, 0, "traced");
    lua_insert(L, 1);
    lua_pushvalue(L, lua_upvalueindex(TRACED_FN));
    lua_insert(L, 2);
    return traced_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 0, 0, traced_k), 0);
}

static void check_callable(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TFUNCTION && luaL_getmetafield(L, idx, "__call") == LUA_TNIL)
        luaL_typeerror(L, idx, "function");
    else if (lua_type(L, idx) != LUA_TFUNCTION)
        lua_pop(L, 1);
}

/* tracer:traced(name, fn) -> wrapper */
int sl_lspan_traced(lua_State *L)
{
    sl_ltracer_check(L, 1);
    luaL_checktype(L, 2, LUA_TSTRING);
    check_callable(L, 3);
    for (int i = 1; i <= UV_COUNT; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushcclosure(L, traced_call, UV_COUNT + 3);
    return 1;
}

/* tracer:with(name, fn, ...) -> fn's results */
int sl_lspan_with(lua_State *L)
{
    l_tracer *tr = sl_ltracer_check(L, 1);
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    check_callable(L, 3);
    sl_lspan_open(L, tr, 1, name, len, 0, 0, "with");
    lua_replace(L, 1);   /* span where the tracer was (the span keeps it alive) */
    lua_remove(L, 2);    /* the name */
    return traced_k(L, lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, traced_k), 0);
}

const luaL_Reg sl_lspan_methods[] = {
    {"finish", l_span_finish},
    {"set", l_span_set},
    {"event", l_span_event},
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

const luaL_Reg sl_lspan_meta[] = {
    {"__gc", l_span_gc},
    {"__tostring", l_span_tostring},
    {NULL, NULL}
};
