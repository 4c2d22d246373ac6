/*
 * lspan.c: spans (start, attributes, events, finish, abandon) and traced/with.
 *
 * Key idea: a span is a pool entry in C memory that the core and the context
 * stacks link through, plus a small Lua object (no __gc) that refers to it
 * by (entry, generation). Nothing per span goes through Lua's finalizer
 * machinery: a sentinel object, re-armed every collection cycle, ends the
 * watched entries whose object's weak slot was cleared. traced/with make no
 * Lua object at all unless someone asks for the span (current(), hooks).
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

/* ===== THE ENTRY POOL ===== */

static lsl_entry *entry_take(lsl_state *st)
{
    lsl_entry *e = st->free;
    if (e) {
        st->free = e->wnext;
        return e;
    }
    if (st->nchunks == st->capchunks) {
        size_t cap = st->capchunks ? st->capchunks * 2 : 8;
        lsl_entry **p = (lsl_entry **)realloc(st->chunks, cap * sizeof *p);
        if (p == NULL) return NULL;
        st->chunks = p;
        st->capchunks = cap;
    }
    lsl_entry *chunk = (lsl_entry *)calloc(POOL_CHUNK, sizeof(lsl_entry));
    if (chunk == NULL) return NULL;
    int base = (int)(st->nchunks * POOL_CHUNK);
    st->chunks[st->nchunks++] = chunk;
    for (int i = POOL_CHUNK - 1; i >= 1; i--) {
        chunk[i].slot = base + i + 1;
        chunk[i].wnext = st->free;
        st->free = &chunk[i];
    }
    chunk[0].slot = base + 1;
    return &chunk[0];
}

static void entry_free(lsl_state *st, lsl_entry *e)
{
    e->gen++;
    e->state = 0;
    e->tr = NULL;
    e->name = NULL;
    e->wprev = NULL;
    e->wnext = st->free;
    st->free = e;
}

static void watch_add(lsl_state *st, lsl_entry *e)
{
    e->wprev = NULL;
    e->wnext = st->watch;
    if (st->watch) st->watch->wprev = e;
    st->watch = e;
}

static void watch_remove(lsl_state *st, lsl_entry *e)
{
    if (e->wprev) e->wprev->wnext = e->wnext;
    else if (st->watch == e) st->watch = e->wnext;
    if (e->wnext) e->wnext->wprev = e->wprev;
    e->wprev = e->wnext = NULL;
}

static void tracer_link(lsl_tracer *tr, lsl_entry *e)
{
    e->tr = tr;
    e->tprev = NULL;
    e->tnext = tr->open;
    if (tr->open) tr->open->tprev = e;
    tr->open = e;
}

static void tracer_unlink(lsl_entry *e)
{
    lsl_tracer *tr = e->tr;
    if (tr == NULL) return;
    if (e->tprev) e->tprev->tnext = e->tnext;
    else if (tr->open == e) tr->open = e->tnext;
    if (e->tnext) e->tnext->tprev = e->tprev;
    e->tprev = e->tnext = NULL;
}

void lsl_span_release(lsl_state *st, lsl_entry *e)
{
    lsl_ctx_unlink(e);
    tracer_unlink(e);
    if (!(e->state & LS_FRAME)) watch_remove(st, e);
    entry_free(st, e);
}

/* ===== SPAN OBJECTS ===== */

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

static inline void ident_copy(lsl_ident *d, const sl_span *s)
{
    d->id = s->id;
    d->trace = s->trace;
    d->parent = s->parent.span;
    d->start_ns = s->start_ns;
    d->lane = s->lane;
    d->has_parent = (s->flags & SL_SPAN_HAS_PARENT) != 0;
    d->parent_remote = s->parent.remote;
}

/* What sl_span_context gives for the span (a local, sampled parent). */
static void ident_context(const lsl_ident *d, sl_context *out)
{
    memset(out, 0, sizeof *out);
    out->trace = d->trace;
    out->span = d->id;
    out->flags = 1;
}

/* The entry o refers to, if it still is o's (not freed and reused). */
static inline lsl_entry *live_entry(const lsl_spanobj *o)
{
    lsl_entry *e = o->e;
    return e && e->gen == o->gen ? e : NULL;
}

/* A new object for entry e (after its start); the tracer userdata at tr_idx
 * (0: looked up) becomes its uservalue. Leaves it on the stack and in the
 * entry's weak slot. */
static lsl_spanobj *new_object(lua_State *L, lsl_entry *e, const char *name, size_t len, int tr_idx)
{
    lsl_spanobj *o = (lsl_spanobj *)lua_newuserdatauv(L, sizeof(lsl_spanobj) + len, 1);
    o->magic = lsl_span_magic;
    o->e = e;
    o->gen = e->gen;
    o->state = LO_OPEN | (e->state & (LS_NOOP | LS_UNSAMPLED | LS_FRAME));
    ident_copy(&o->id, &e->s);
    o->name_len = (uint32_t)len;
    memcpy(o->name, name, len);
    o->name[len] = '\0';
    lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
    lua_setmetatable(L, -2);
    if (tr_idx) {
        lua_pushvalue(L, tr_idx);
        lua_setiuservalue(L, -2, 1);
    } else if (e->tr) {
        lua_rawgetp(L, lua_upvalueindex(UV_WEAK), e->tr);
        lua_setiuservalue(L, -2, 1);
    }
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
    lsl_spanobj *o = new_object(L, e, e->name ? e->name : "", e->name ? e->name_len : 0, 0);
    if (e->gen != gen) {
        o->e = NULL;
        o->state = 0;
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

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
 * (no sl_span, no record) on the context stack, so its children get the
 * shared no-op span for free and the decision ends when it ends or its
 * object is collected; otherwise it is the shared no-op span too. */
static lsl_entry *push_unsampled_root(lua_State *L, lsl_ctx *ctx, int current, int frame,
                                   const char *name, size_t len)
{
    lsl_entry *e = current ? entry_take(ctx->st) : NULL;
    if (e == NULL) {
        if (!frame) push_noop(L);
        return NULL;
    }
    memset(&e->s, 0, sizeof e->s);
    e->tr = NULL;
    e->state = LS_NOOP | LS_UNSAMPLED | LS_OPEN | (frame ? LS_FRAME : 0);
    lsl_ctx_push(ctx, e);
    if (frame) {
        e->name = name;
        e->name_len = len;
    } else {
        new_object(L, e, "", 0, 0);
        watch_add(ctx->st, e);
    }
    return e;
}

lsl_entry *lsl_span_open(lua_State *L, lsl_tracer *tr, int tr_idx, const char *name, size_t len,
                      int attrs_idx, int opts_idx, const char *fname, int frame)
{
    lsl_state *st = tr->st;
    lsl_ctx *ctx = lsl_ctx_get(L, st);
    sl_context pctx;
    const sl_context *parent = NULL;
    int current = 1, explicit_parent = 0;

    if (opts_idx) {
        if (lua_getfield(L, opts_idx, "current") != LUA_TNIL && !lua_toboolean(L, -1)) current = 0;
        lua_pop(L, 1);
        if (lua_getfield(L, opts_idx, "root") != LUA_TNIL && lua_toboolean(L, -1)) explicit_parent = 1;
        lua_pop(L, 1);
        int t = lua_getfield(L, opts_idx, "parent");
        if (t == LUA_TTABLE) {
            /* spanline.extract's context: its normalised header, or none
             * (a new trace; counted when the header was malformed) */
            if (lua_getfield(L, -1, "traceparent") != LUA_TSTRING) {
                lua_getfield(L, -2, "malformed");
                if (lua_toboolean(L, -1)) tr->bad_traceparents++;
                lua_pop(L, 1);
                explicit_parent = 1;
            }
            lua_remove(L, -2);
            t = lua_type(L, -1);
        }
        if (t == LUA_TSTRING) {
            size_t plen;
            const char *p = lua_tolstring(L, -1, &plen);
            explicit_parent = 1;
            if (sl_traceparent_parse(p, plen, &pctx) != SL_OK) {
                /* wire data never raises: a new trace, counted */
                tr->bad_traceparents++;
            } else if (tr->sampling && !(pctx.flags & 1)) {
                lua_pop(L, 1);
                return push_unsampled_root(L, ctx, current, frame, name, len);
            } else {
                parent = &pctx;
            }
        } else if (t != LUA_TNIL) {
            lsl_spanobj *ps = lsl_span_test(L, -1);
            if (ps == NULL)
                luaL_error(L, "bad option 'parent' to '%s' (span, context or traceparent string expected, got %s)",
                           fname, luaL_typename(L, -1));
            explicit_parent = 1;
            if (ps->state & LS_NOOP) {
                lua_pop(L, 1);
                if (!frame) push_noop(L);
                return NULL;
            }
            ident_context(&ps->id, &pctx);
            parent = &pctx;
        }
        lua_pop(L, 1);
    }
    if (!explicit_parent) {
        lsl_entry *top = ctx->top;
        if (top) {
            if (top->state & LS_NOOP) {   /* inside an unsampled trace */
                if (!frame) push_noop(L);
                return NULL;
            }
            sl_span_context(&top->s, &pctx);
            parent = &pctx;
        } else if (ctx->inherit == CTX_INHERIT_SPAN) {
            parent = &ctx->parent;
        } else if (ctx->inherit == CTX_INHERIT_UNSAMPLED) {
            if (!frame) push_noop(L);
            return NULL;
        }
    }
    if (tr->t == NULL) {
        /* closed: tracing never breaks the program. Not made current: this
         * is no sampling decision for the children (other tracers) */
        if (!frame) push_noop(L);
        return NULL;
    }
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    sl_id root_id;
    if (parent == NULL && tr->sampling) {
        tr->L = L;
        o.ts = sl_tracer_next_id(tr->t, &root_id);
        o.id = &root_id;
        if (!sampled_id(tr, &root_id)) {
            tr->unsampled++;
            return push_unsampled_root(L, ctx, current, frame, name, len);
        }
    }
    /* Attributes after the allocations that can run a collection step (its
     * finalizers may use the attribute scratch themselves), the entry after
     * what can raise an error (a bad attribute). */
    lsl_spanobj *obj = NULL;
    if (!frame) {
        obj = (lsl_spanobj *)lua_newuserdatauv(L, sizeof(lsl_spanobj) + len, 1);
        obj->magic = lsl_span_magic;
        obj->e = NULL;
        obj->state = 0;
        lua_pushvalue(L, tr_idx);
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, lua_upvalueindex(UV_SPAN_MT));
        lua_setmetatable(L, -2);
    }
    if (attrs_idx)
        o.attrs = tr->sorted ? lsl_attrs_from_table_sorted(L, attrs_idx, &o.nattrs, fname)
                             : lsl_attrs_from_table(L, attrs_idx, &o.nattrs, fname);
    o.parent = parent;
    o.lane = ctx->lane;
    lsl_entry *e = entry_take(st);
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
        entry_free(st, e);
        if (!frame) {
            lua_pop(L, 1);
            push_noop(L);
        }
        return NULL;
    }
    e->state = LS_OPEN;
    e->ctx = NULL;
    tracer_link(tr, e);
    if (current) lsl_ctx_push(ctx, e);
    if (frame) {
        e->state |= LS_FRAME;
        e->name = name;
        e->name_len = len;
    } else {
        obj->e = e;
        obj->gen = e->gen;
        obj->state = LO_OPEN;
        ident_copy(&obj->id, &e->s);
        obj->name_len = (uint32_t)len;
        memcpy(obj->name, name, len);
        obj->name[len] = '\0';
        lua_pushvalue(L, -1);
        lua_rawseti(L, lua_upvalueindex(UV_WEAK), e->slot);
        watch_add(st, e);
    }
    if (tr->nhooks[HOOK_START]) {
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
    tracer_unlink(e);
    e->state &= ~LS_OPEN;
    e->tr = NULL;
    tr->L = L;
    sl_span_end(&e->s, status, err, errlen);
    if (!(e->state & LS_FRAME)) {
        watch_remove(st, e);
        entry_free(st, e);
    }
}

void lsl_span_abandon_all(lua_State *L, lsl_tracer *tr)
{
    while (tr->open) {
        lsl_entry *e = tr->open;
        e->state |= LS_CLOSED;   /* kept by a frame entry until its call returns */
        lsl_span_end(L, e, SL_STATUS_ABANDONED, NULL, 0);
    }
}

/* Finish with hooks. obj_idx: the span object, or 0 (a frame without one). */
static void span_finish(lua_State *L, int obj_idx, lsl_entry *e, sl_span_status status,
                        const char *err, size_t errlen)
{
    lsl_tracer *tr = e->tr;
    if (tr->nhooks[HOOK_END]) {
        if (e->state & LS_ENDING) return;   /* finish() from its own end hook */
        e->state |= LS_ENDING;
        uint32_t gen = e->gen;
        if (obj_idx) lua_pushvalue(L, obj_idx);
        else lsl_span_push_object(L, e);
        lua_getiuservalue(L, -1, 1);
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

static int l_span_finish(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    static const char *const statuses[] = {"ok", "error", NULL};
    sl_span_status status = SL_STATUS_OK;
    size_t errlen = 0;
    const char *err = NULL;
    if (lua_gettop(L) > 1) {
        status = (sl_span_status)luaL_checkoption(L, 2, "ok", statuses);
        if (!lua_isnoneornil(L, 3)) err = luaL_tolstring(L, 3, &errlen);
    }
    lsl_entry *e = live_entry(o);
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
        return luaL_error(L, "span '%s' already finished", o->name);
    }
    if (e->state & LS_ENDING) return 0;
    o->state &= ~LO_OPEN;
    span_finish(L, 1, e, status, err, errlen);
    return 0;
}

/* The open, recorded entry of the span at 1, or NULL for a no-op or a span
 * the tracer ended; raises on one already finished (fname names the method). */
static lsl_entry *check_writable(lua_State *L, const char *fname)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    if (o->state & LS_NOOP) return NULL;
    lsl_entry *e = live_entry(o);
    if (e == NULL || !(e->state & LS_OPEN)) {
        if ((e == NULL && (o->state & LO_OPEN) && !(o->state & LS_FRAME)) ||
            (e && (e->state & LS_CLOSED)))
            return NULL;
        luaL_error(L, "bad self to '%s' (span '%s' already finished)", fname, o->name);
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
        attrs = e->tr->sorted ? lsl_attrs_from_table_sorted(L, 2, &n, "set")
                              : lsl_attrs_from_table(L, 2, &n, "set");
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
        attrs = tr->sorted ? lsl_attrs_from_table_sorted(L, 3, &n, "event")
                           : lsl_attrs_from_table(L, 3, &n, "event");
    tr->L = L;
    sl_span_event(&e->s, name, len, attrs, n);
    if (tr->nhooks[HOOK_EVENT]) {
        lua_settop(L, 3);
        lua_getiuservalue(L, 1, 1);                 /* 4: tracer */
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lsl_tracer_run_hooks(L, tr, 4, HOOK_EVENT, 2);
    }
    if (tr->pending_len) lsl_tracer_deliver(L, tr);
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

static lsl_spanobj *check_recorded(lua_State *L)
{
    lsl_spanobj *o = lsl_span_check(L, 1);
    return (o->state & LS_NOOP) ? NULL : o;
}

static int l_span_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    push_hex(L, &o->id.id, 0);
    return 1;
}

static int l_span_trace_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    push_hex(L, &o->id.trace, 0);
    return 1;
}

static int l_span_parent_id(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL || !o->id.has_parent) return 0;
    push_hex(L, &o->id.parent, o->id.parent_remote);
    return 1;
}

static int l_span_traceparent(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    sl_context c;
    char out[SL_TRACEPARENT_LEN + 1];
    ident_context(&o->id, &c);
    sl_traceparent_format(&c, out);
    lua_pushlstring(L, out, SL_TRACEPARENT_LEN);
    return 1;
}

static int l_span_name(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushlstring(L, o->name, o->name_len);
    return 1;
}

static int l_span_lane(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushinteger(L, o->id.lane);
    return 1;
}

static int l_span_start_ns(lua_State *L)
{
    lsl_spanobj *o = check_recorded(L);
    if (o == NULL) return 0;
    lua_pushinteger(L, (lua_Integer)o->id.start_ns);
    return 1;
}

static int is_open(const lsl_spanobj *o)
{
    lsl_entry *e = live_entry(o);
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
        sl_id_to_hex(&o->id.id, hex);
        lua_pushfstring(L, "spanline.span '%s' %s (%s)", o->name, hex, is_open(o) ? "open" : "ended");
    }
    return 1;
}

/* ===== ABANDONED SPANS ===== */

/* Runs once per collection cycle, after the cycle cleared the weak slots of
 * the span objects it found unreachable: those spans can never be finished. */
int lsl_span_sentinel_gc(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    int any = 0;
    for (lsl_entry *e = st->watch, *next; e; e = next) {
        next = e->wnext;
        int gone = lua_rawgeti(L, lua_upvalueindex(UV_WEAK), e->slot) == LUA_TNIL;
        if (!gone) {
            lsl_spanobj *o = (lsl_spanobj *)lua_touserdata(L, -1);
            gone = o == NULL || o->e != e || o->gen != e->gen;
        }
        lua_pop(L, 1);
        if (!gone) continue;
        if (e->tr && e->tr->t && (e->state & LS_OPEN) && !(e->state & LS_NOOP)) {
            lsl_span_end(L, e, SL_STATUS_ABANDONED, NULL, 0);
            any = 1;
        } else {
            lsl_span_release(st, e);
        }
    }
    if (any) lsl_tracer_deliver_all(L, st);
    /* the next cycle's sentinel (refused while the state closes) */
    lua_newuserdatauv(L, 0, 0);
    if (lua_getmetatable(L, 1)) lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

/* ===== TRACED / WITH ===== */

const char *lsl_span_error_message(lua_State *L, int idx, size_t *len)
{
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING || t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        return lua_tolstring(L, -1, len);
    }
    if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        lua_pop(L, 1);
        return luaL_tolstring(L, idx, len);
    }
    const char *msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
    *len = strlen(msg);
    return msg;
}

void lsl_span_frame_done(lua_State *L, lsl_state *st, lsl_entry *e, sl_span_status status,
                         const char *err, size_t errlen)
{
    if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN) span_finish(L, 0, e, status, err, errlen);
    lsl_span_release(st, e);
}

/* Stack: the call's arguments, [base] the entry (light userdata, or nil for
 * a no-op span), then the results, or the error value on top. */
static int traced_k(lua_State *L, int status, lua_KContext kctx)
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

/* Runs the function at fn_idx with the nargs values from index 1 inside the
 * frame entry e (NULL: a no-op span): pushes the entry, the function and
 * copies of the arguments (cheaper than moving them for the usual few). */
static int frame_call(lua_State *L, lsl_entry *e, int fn_idx, int first, int nargs)
{
    luaL_checkstack(L, nargs + 2, NULL);
    int base = lua_gettop(L) + 1;
    if (e) lua_pushlightuserdata(L, e);
    else lua_pushnil(L);
    lua_pushvalue(L, fn_idx);
    for (int i = 0; i < nargs; i++) lua_pushvalue(L, first + i);
    return traced_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 0, base, traced_k), base);
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
                              0, 0, "traced", 1);
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
int lsl_span_traced(lua_State *L)
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
int lsl_span_with(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);   /* stays on the stack for the entry */
    check_callable(L, 3);
    int nargs = lua_gettop(L) - 3;
    lsl_entry *e = lsl_span_open(L, tr, 1, name, len, 0, 0, "with", 1);
    return frame_call(L, e, 3, 4, nargs);
}

const luaL_Reg lsl_span_methods[] = {
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

const luaL_Reg lsl_span_meta[] = {
    {"__tostring", l_span_tostring},
    {NULL, NULL}
};
