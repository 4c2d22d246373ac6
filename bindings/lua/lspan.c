/*
 * lspan.c: starting and ending spans (context, sampling, the core record,
 * hooks) and the span methods that record: finish, set, event.
 *
 * Key idea: a span is a pool entry in C memory (lpool.c) that the core and
 * the context stacks link through, plus a small Lua object (lspanident.c: no
 * __gc, no user values) that refers to it by (entry, generation). Nothing
 * per span goes through Lua's finalizer machinery. A tracer with open spans
 * is anchored (UV_ANCHOR) so it lives as long as they may be finished; the
 * sentinel lets it go.
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

static void push_noop(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(UV_NOOP));
}

/* Sampling decides from the random tail of the trace id (design.md §2): the
 * 62 random bits of the root id, against sample * 2^62. */
static int sampled_id(const lsl_tracer *tr, const sl_id *id)
{
    uint64_t tail = 0;
    for (int i = 8; i < 16; i++) tail = tail << 8 | id->bytes[i];
    tail &= (UINT64_C(1) << 62) - 1;
    return (double)(tail >> 9) < tr->sample * 9007199254740992.0;  /* 2^53 */
}

/* The root of an unsampled trace. Made current, it is an entry of its own
 * (no sl_span, no record) on tr's context stack, so its children get the
 * shared no-op span for free and the decision ends when it ends or its
 * object is collected; otherwise it is the shared no-op span too. */
static lsl_entry *push_unsampled_root(lua_State *L, lsl_ctx *ctx, lsl_tracer *tr, int current,
                                      int frame, const char *name, size_t len)
{
    lsl_stack *sk = current ? lsl_ctx_stack(ctx, tr, 1) : NULL;
    lsl_entry *e = sk ? lsl_entry_take(ctx->st) : NULL;
    if (e == NULL) {
        if (!frame) push_noop(L);
        return NULL;
    }
    memset(&e->s, 0, sizeof e->s);
    e->tr = NULL;
    e->state = LS_NOOP | LS_UNSAMPLED | LS_OPEN | (frame ? LS_FRAME : 0);
    lsl_ctx_push(sk, e);
    if (frame) {
        e->name = name;
        e->name_len = len;
    } else {
        lsl_spanobj_new(L, e, "", 0);
        lsl_watch_add(ctx->st, e);
    }
    return e;
}

/* What opts (the table at opts_idx) says about the parent. */
enum { PARENT_CONTEXT, PARENT_GIVEN, PARENT_NONE, PARENT_NOOP, PARENT_UNSAMPLED };

static int read_opts(lua_State *L, lsl_tracer *tr, int opts_idx, const char *fname, int *current,
                     sl_context *pctx)
{
    int how = PARENT_CONTEXT;
    if (lua_getfield(L, opts_idx, "current") != LUA_TNIL && !lua_toboolean(L, -1)) *current = 0;
    lua_pop(L, 1);
    if (lua_getfield(L, opts_idx, "root") != LUA_TNIL && lua_toboolean(L, -1)) how = PARENT_NONE;
    lua_pop(L, 1);
    int t = lua_getfield(L, opts_idx, "parent");
    if (t == LUA_TTABLE) {
        /* spanline.extract's context: its normalised header, or none (a
         * new trace; counted when the header was malformed) */
        if (lua_getfield(L, -1, "traceparent") != LUA_TSTRING) {
            lua_getfield(L, -2, "malformed");
            if (lua_toboolean(L, -1)) tr->bad_traceparents++;
            lua_pop(L, 1);
            how = PARENT_NONE;
        }
        lua_remove(L, -2);
        t = lua_type(L, -1);
    }
    if (t == LUA_TSTRING) {
        size_t plen;
        const char *p = lua_tolstring(L, -1, &plen);
        if (sl_traceparent_parse(p, plen, pctx) != SL_OK) {
            tr->bad_traceparents++;   /* wire data never raises: a new trace, counted */
            how = PARENT_NONE;
        } else {
            how = tr->sampling && !(pctx->flags & 1) ? PARENT_UNSAMPLED : PARENT_GIVEN;
        }
    } else if (t != LUA_TNIL) {
        lsl_spanobj *ps = lsl_span_test(L, -1);
        if (ps == NULL)
            luaL_error(L, "bad option 'parent' to '%s' (span, context or traceparent string expected, got %s)",
                       fname, luaL_typename(L, -1));
        if (ps->state & LS_NOOP) {
            how = PARENT_NOOP;
        } else {
            lsl_spanobj_context(ps, pctx);
            how = PARENT_GIVEN;
        }
    }
    lua_pop(L, 1);
    return how;
}

lsl_entry *lsl_span_open(lua_State *L, lsl_tracer *tr, int tr_idx, const char *name, size_t len,
                         int attrs_idx, int pair, int opts_idx, const char *fname, int frame)
{
    lsl_state *st = tr->st;
    lsl_ctx *ctx = lsl_ctx_get(L, st);
    sl_context pctx;
    const sl_context *parent = NULL;
    int current = 1;
    int how = opts_idx ? read_opts(L, tr, opts_idx, fname, &current, &pctx) : PARENT_CONTEXT;

    if (how == PARENT_CONTEXT) {
        /* the current span of this tracer: another tracer's spans are
         * never adopted (only through opts.parent) */
        lsl_stack *sk = lsl_ctx_stack(ctx, tr, 0);
        if (sk == NULL) {
        } else if (sk->top) {
            if (sk->top->state & LS_NOOP) how = PARENT_NOOP;   /* inside an unsampled trace */
            else {
                lsl_parent_of(&sk->top->s, &pctx);
                parent = &pctx;
            }
        } else if (sk->inherit == CTX_INHERIT_SPAN) {
            pctx = sk->parent;
            parent = &pctx;
        } else if (sk->inherit == CTX_INHERIT_UNSAMPLED) {
            how = PARENT_NOOP;
        }
    } else if (how == PARENT_GIVEN) {
        parent = &pctx;
    }
    /* closed: tracing never breaks the program. Nothing is made current:
     * this is no sampling decision for the children (other tracers) */
    if (how == PARENT_NOOP || tr->t == NULL) {
        if (!frame) push_noop(L);
        return NULL;
    }
    if (how == PARENT_UNSAMPLED) return push_unsampled_root(L, ctx, tr, current, frame, name, len);
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    sl_id root_id;
    if (parent == NULL && tr->sampling) {
        if (tr->sample <= 0) {   /* nothing is recorded: no id to draw */
            tr->unsampled++;
            return push_unsampled_root(L, ctx, tr, current, frame, name, len);
        }
        tr->L = L;
        (void)sl_tracer_next_id(tr->t, &root_id, &o.ts);  /* failing, begin reports it */
        o.id = &root_id;
        if (!sampled_id(tr, &root_id)) {
            tr->unsampled++;
            return push_unsampled_root(L, ctx, tr, current, frame, name, len);
        }
    }
    /* Attributes after the allocations that can run a collection step (its
     * finalizers may use the attribute scratch themselves), the entry after
     * what can raise an error (a bad attribute). The tracer is anchored
     * before any of it: a finalizer may close it, never collect it. */
    lsl_spanobj *obj = NULL;
    /* a child (sl_span_begin's rule) has trace and parent ids to keep */
    int linked = 0;
    if (parent) {
        uint64_t a, b;
        memcpy(&a, parent->trace.bytes, 8);
        memcpy(&b, parent->trace.bytes + 8, 8);
        linked = (a | b) != 0;
    }
    if (!frame) {
        obj = (lsl_spanobj *)lua_newuserdatauv(L, lsl_spanobj_size(linked, len), 0);
        obj->magic = lsl_span_magic;
        obj->e = NULL;
        obj->state = 0;
        lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
        lua_setmetatable(L, -2);
        lsl_tracer_anchor(L, tr, tr_idx);
    }
    sl_attr one;
    if (pair) {
        size_t klen;
        const char *key = lua_tolstring(L, attrs_idx, &klen);
        if (lsl_attr_scalar(L, attrs_idx + 1, &one)) {
            one.key = key;
            one.key_len = klen;
            o.attrs = &one;
        } else {
            o.attrs = lsl_attrs_from_pair(L, key, klen, attrs_idx + 1, fname);
        }
        o.nattrs = 1;
    } else if (attrs_idx) {
        o.attrs = tr->sorted ? lsl_attrs_from_table_sorted(L, st, attrs_idx, &o.nattrs, fname)
                             : lsl_attrs_from_table(L, st, attrs_idx, &o.nattrs, fname);
    }
    o.parent = parent;
    o.lane = ctx->lane;
    /* a finalizer run by the allocations above may have closed tr */
    lsl_entry *e = tr->t ? lsl_entry_take(st) : NULL;
    if (e == NULL) {
        if (!frame) {
            lua_pop(L, 1);
            push_noop(L);
        }
        return NULL;
    }
    tr->L = L;
    if (sl_span_begin(tr->t, &e->s, name, len, &o) != SL_OK) {
        /* Could not record (closed, out of memory): hand back the no-op
         * span rather than break the program. */
        lsl_entry_free(st, e);
        if (!frame) {
            lua_pop(L, 1);
            push_noop(L);
        }
        return NULL;
    }
    e->state = st->hooks ? LS_OPEN | LS_QUIET : LS_OPEN;
    e->stack = NULL;
    lsl_open_link(tr, e);
    if (current) {
        lsl_stack *sk = lsl_ctx_stack(ctx, tr, 1);
        if (sk) lsl_ctx_push(sk, e);
    }
    if (frame) {
        e->state |= LS_FRAME;
        e->name = name;
        e->name_len = len;
    } else {
        lsl_spanobj_fill(obj, e, LO_OPEN, linked, name, len);
        lua_pushvalue(L, -1);
        lua_rawseti(L, lua_upvalueindex(UV_WEAK), e->slot);
        lsl_watch_add(st, e);
    }
    if (tr->nhooks[HOOK_START] && !st->hooks) {
        if (frame) lsl_span_push_object(L, e);
        else lua_pushvalue(L, -1);
        lsl_tracer_run_hooks(L, tr, tr_idx, HOOK_START, 0);
    }
    if (tr->pending_len) lsl_tracer_deliver(L, tr);
    return e;
}

void lsl_span_end(lua_State *L, lsl_entry *e, sl_span_status status, const char *err, size_t errlen)
{
    lsl_tracer *tr = e->tr;
    lsl_state *st = tr->st;
    lsl_ctx_unlink(e);
    lsl_open_unlink(e);
    e->state &= ~LS_OPEN;
    e->tr = NULL;
    tr->L = L;
    sl_span_end(&e->s, status, err, errlen);
    if (!(e->state & LS_FRAME)) {
        lsl_watch_remove(st, e);
        lsl_entry_free(st, e);
    }
}

void lsl_span_abandon_all(lua_State *L, lsl_tracer *tr)
{
    while (tr->open) {
        lsl_entry *e = tr->open;
        e->state |= LS_CLOSED;   /* kept by a frame entry until its call returns */
        if (e->state & LS_ENTERED) lsl_span_orphan_object(L, e);   /* freed before leave */
        lsl_span_end(L, e, SL_STATUS_ABANDONED, NULL, 0);
    }
}

void lsl_span_finish(lua_State *L, int obj_idx, lsl_entry *e, sl_span_status status,
                     const char *err, size_t errlen)
{
    lsl_tracer *tr = e->tr;
    if (tr->nhooks[HOOK_END] && !(e->state & LS_QUIET) && !tr->st->hooks) {
        if (e->state & LS_ENDING) return;   /* finish() from its own end hook */
        e->state |= LS_ENDING;
        uint32_t gen = e->gen;
        if (obj_idx) lua_pushvalue(L, obj_idx);
        else lsl_span_push_object(L, e);
        lsl_tracer_push(L, tr);
        int tr_idx = lua_gettop(L);
        lua_pushvalue(L, tr_idx - 1);
        lua_pushstring(L, status == SL_STATUS_OK ? "ok" : "error");
        if (err) lua_pushlstring(L, err, errlen);
        else lua_pushnil(L);
        lsl_tracer_run_hooks(L, tr, tr_idx, HOOK_END, 2);
        lua_pop(L, 2);
        if (e->gen != gen || !(e->state & LS_OPEN)) return;  /* a hook ended it */
        e->state &= ~LS_ENDING;
    }
    lsl_span_end(L, e, status, err, errlen);
    if (tr->pending_len) lsl_tracer_deliver(L, tr);
}

static int tostring_protected(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    return 1;
}

const char *lsl_span_error_message(lua_State *L, int idx, size_t *len)
{
    idx = lua_absindex(L, idx);
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        return lua_tolstring(L, -1, len);
    }
    const char *fmt = "(error object is a %s value)";
    if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushcfunction(L, tostring_protected);
        lua_pushvalue(L, idx);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) return lua_tolstring(L, -1, len);
        lua_pop(L, 1);
        fmt = "(error object is a %s value; its __tostring raised an error)";
    }
    const char *msg = lua_pushfstring(L, fmt, luaL_typename(L, idx));
    *len = strlen(msg);
    return msg;
}

sl_span_status lsl_span_status_args(lua_State *L, int idx, const char **err, size_t *errlen)
{
    static const char *const statuses[] = {"ok", "error", NULL};
    sl_span_status status = SL_STATUS_OK;
    *err = NULL;
    *errlen = 0;
    if (lua_gettop(L) >= idx) {
        status = (sl_span_status)luaL_checkoption(L, idx, "ok", statuses);
        if (!lua_isnoneornil(L, idx + 1)) *err = lsl_span_error_message(L, idx + 1, errlen);
    }
    return status;
}

static int l_span_finish(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    size_t errlen;
    const char *err;
    sl_span_status status = lsl_span_status_args(L, 2, &err, &errlen);
    lsl_entry *e = lsl_live_entry(o);
    if (o->state & LS_NOOP) {
        o->state &= ~LO_OPEN;
        if (e && (e->state & LS_OPEN)) {
            if (e->state & LS_FRAME) {   /* its call frees the entry */
                lsl_ctx_unlink(e);
                e->state &= ~LS_OPEN;
            } else {
                lsl_span_release((lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE)), e);
            }
        }
        return 0;
    }
    if (e == NULL || !(e->state & LS_OPEN)) {
        /* ended by the tracer's close, or abandoned: nothing left to do */
        if ((e == NULL && (o->state & LO_OPEN) && !(o->state & LS_FRAME)) ||
            (e && (e->state & LS_CLOSED)))
            return 0;
        return luaL_error(L, "span '%s' already finished", lsl_spanobj_name(o));
    }
    if (e->state & LS_ENDING) return 0;
    o->state &= ~LO_OPEN;
    lsl_span_finish(L, 1, e, status, err, errlen);
    return 0;
}

/* The open, recorded entry of the span at 1, or NULL for a no-op or a span
 * the tracer ended; raises on one already finished (fname names the method). */
static lsl_entry *check_writable(lua_State *L, const char *fname)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    if (o->state & LS_NOOP) return NULL;
    lsl_entry *e = lsl_live_entry(o);
    if (e == NULL || !(e->state & LS_OPEN)) {
        if ((e == NULL && (o->state & LO_OPEN) && !(o->state & LS_FRAME)) ||
            (e && (e->state & LS_CLOSED)))
            return NULL;
        luaL_error(L, "bad self to '%s' (span '%s' already finished)", fname, lsl_spanobj_name(o));
    }
    return e;
}

static int l_span_set(lua_State *L)
{
    lsl_entry *e = check_writable(L, "set");
    const sl_attr *attrs;
    size_t n = 1;
    lua_settop(L, 3);
    if (lua_type(L, 2) == LUA_TTABLE) {
        if (e == NULL) { lua_settop(L, 1); return 1; }
        attrs = e->tr->sorted ? lsl_attrs_from_table_sorted(L, e->tr->st, 2, &n, "set")
                              : lsl_attrs_from_table(L, e->tr->st, 2, &n, "set");
    } else {
        size_t klen;
        const char *key = luaL_checklstring(L, 2, &klen);
        if (e == NULL) { lua_settop(L, 1); return 1; }
        attrs = lsl_attrs_from_pair(L, key, klen, 3, "set");
    }
    if (n > 0) {
        lsl_tracer *tr = e->tr;
        tr->L = L;
        sl_span_attrs(&e->s, attrs, n);
        if (tr->pending_len) lsl_tracer_deliver(L, tr);
    }
    lua_settop(L, 1);
    return 1;
}

static int l_span_event(lua_State *L)
{
    lsl_entry *e = check_writable(L, "event");
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    if (e == NULL) {
        lua_settop(L, 1);
        return 1;
    }
    lsl_tracer *tr = e->tr;
    const sl_attr *attrs = NULL;
    size_t n = 0;
    if (!lua_isnoneornil(L, 3))
        attrs = tr->sorted ? lsl_attrs_from_table_sorted(L, tr->st, 3, &n, "event")
                           : lsl_attrs_from_table(L, tr->st, 3, &n, "event");
    tr->L = L;
    sl_span_event(&e->s, name, len, attrs, n);
    if (tr->nhooks[HOOK_EVENT] && !(e->state & LS_QUIET) && !tr->st->hooks) {
        lua_settop(L, 3);
        lsl_tracer_push(L, tr);                     /* 4: tracer */
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lsl_tracer_run_hooks(L, tr, 4, HOOK_EVENT, 2);
    }
    if (tr->pending_len) lsl_tracer_deliver(L, tr);
    lua_settop(L, 1);
    return 1;
}

const luaL_Reg lsl_span_methods[] = {
    {"finish", l_span_finish},
    {"set", l_span_set},
    {"event", l_span_event},
    {NULL, NULL}
};
