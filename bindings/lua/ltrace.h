/*
 * ltrace.h: what the tracer half of the binding shares (ltracer.c,
 * lcallback.c, loptions.c, lspan.c, lspanident.c, lframe.c, lpool.c,
 * lcontext.c, lattrs.c; lhook*.c use it too).
 *
 * Key idea: a span is a pool entry in C (what the core and the context
 * stacks link through) plus a small Lua object without __gc that refers to
 * it; every function of this half shares the same upvalues (UV_*), so the
 * hot path needs no registry lookups.
 */
#ifndef LSL_TRACE_H
#define LSL_TRACE_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbinding.h"

/* Upvalues shared by every function of the tracer half (luaL_setfuncs). */
enum {
    UV_STATE = 1,   /* lsl_state userdata */
    UV_WEAK,        /* slot -> span object, weak values (also light tracer -> tracer) */
    UV_CTXS,        /* thread -> lsl_ctx userdata, weak keys */
    UV_INHERIT,     /* light lsl_stack -> the span object it inherited, weak values */
    UV_SPAN_MT,     /* metatable of span objects (no __gc: see lsl_state.watch) */
    UV_TRACER_MT,
    UV_CTX_MT,
    UV_ANCHOR,      /* light tracer -> tracer: tracers with open spans (strong) */
    UV_NOOP,        /* the shared no-op span */
    UV_COUNT = UV_NOOP
};

typedef struct lsl_state lsl_state;
typedef struct lsl_tracer lsl_tracer;
typedef struct lsl_entry lsl_entry;
typedef struct lsl_spanobj lsl_spanobj;
typedef struct lsl_ctx lsl_ctx;
typedef struct lsl_stack lsl_stack;

#define LS_OPEN 1u      /* started, not ended */
#define LS_NOOP 2u      /* the shared no-op span, or an unsampled root */
#define LS_CLOSED 4u    /* ended as abandoned by tracer:close() */
#define LS_ENDING 8u    /* its end hooks are running */
#define LS_UNSAMPLED 16u /* with LS_NOOP: the root of an unsampled trace, kept in
                          * the context so its children inherit the decision */
#define LS_FRAME 32u    /* owned by a traced/with call: it ends the span and frees
                         * the entry; its span object exists only if asked for */
#define LS_QUIET 64u    /* started while a hook ran: runs no hooks (lsl_state.hooks) */
#define LS_ENTERED 512u /* with LS_FRAME: opened by tracer:enter, on its stack's
                         * entered list until tracer:leave (a no-op span too) */

/* A span's C side: an entry of a pool in C memory (stable addresses, reused),
 * so the core can link through it while the Lua object, which has no __gc,
 * is collected like any small userdata. Abandonment is found by the per-cycle
 * sentinel: an entry on the watch list whose weak slot was cleared. */
struct lsl_entry {
    sl_span s;
    lsl_tracer *tr;           /* while open; NULL for unsampled roots */
    lsl_stack *stack;         /* the context stack holding it, or NULL */
    lsl_entry *below, *above;  /* links in that stack */
    lsl_entry *tprev, *tnext;  /* links in tr's list of open spans */
    lsl_entry *wprev, *wnext;  /* watch list (open, with a Lua object), or free list */
    const char *name;       /* LS_FRAME: the caller's name string (alive during the call),
                             * LS_ENTERED: name_buf or name_heap */
    size_t name_len;
    lsl_entry *enext;       /* LS_ENTERED: the one entered before it on its stack */
    char *name_heap;        /* LS_ENTERED: a name too long for name_buf */
    char name_buf[32];
    uint64_t seq;           /* when it was made current (lsl_state.seq) */
    uint32_t state;         /* LS_* */
    uint32_t gen;           /* bumped when the entry is freed */
    int slot;               /* fixed index of this entry in UV_WEAK */
};

/* The Lua object of a span: a reference (entry, gen) plus what stays
 * readable after the end (its identity and name). A root's trace id is its
 * own id and it has no parent, so only a child's object stores those two:
 * a root's is 56 bytes + its name, small enough for the allocator's fastest
 * bins (the collector's work per span grows with the bytes too). */
#define LO_OPEN 1u            /* not finished through this object */
#define LO_LINKED 128u        /* a child: trace and parent ids stored (tail) */
#define LO_PARENT_REMOTE 256u /* ... its parent came from another process */
struct lsl_spanobj {
    uint64_t magic;         /* lsl_span_magic: the type check without a metatable lookup */
    lsl_entry *e;              /* NULL: the shared no-op span */
    uint32_t gen;
    uint32_t state;         /* LO_OPEN | LS_NOOP | LS_UNSAMPLED | LS_FRAME | LO_LINKED | LO_PARENT_REMOTE */
    uint64_t start_ns;
    uint32_t lane;
    uint32_t name_len;
    sl_id id;
    char tail[];            /* LO_LINKED: trace and parent ids; then the name and a NUL */
};

/* The bytes of a span object (linked: with trace and parent ids). */
static inline size_t lsl_spanobj_size(int linked, size_t name_len)
{
    return sizeof(lsl_spanobj) + (linked ? 2 * sizeof(sl_id) : 0) + name_len + 1;
}

static inline const char *lsl_spanobj_name(const lsl_spanobj *o)
{
    return o->tail + ((o->state & LO_LINKED) ? 2 * sizeof(sl_id) : 0);
}

/* The trace id of o, and its parent's id (NULL for a root). */
static inline const sl_id *lsl_spanobj_trace(const lsl_spanobj *o)
{
    return (o->state & LO_LINKED) ? (const sl_id *)(const void *)o->tail : &o->id;
}

static inline const sl_id *lsl_spanobj_parent(const lsl_spanobj *o)
{
    return (o->state & LO_LINKED) ? (const sl_id *)(const void *)(o->tail + sizeof(sl_id)) : NULL;
}

enum { CTX_INHERIT_NONE = 0, CTX_INHERIT_SPAN = 1, CTX_INHERIT_UNSAMPLED = 2 };

/* The current spans of one tracer in one coroutine: an intrusive stack of
 * raw entry pointers (weak by construction), plus what the coroutine
 * inherited from its creator for this tracer. Freed with the coroutine's
 * context or when the tracer closes, whichever comes first. */
struct lsl_stack {
    lsl_tracer *tr;
    lsl_ctx *ctx;
    lsl_entry *top;
    lsl_entry *entered;        /* spans of tracer:enter not yet left, newest first */
    lsl_stack *next;           /* ctx's list */
    lsl_stack *tprev, *tnext;  /* tr's list */
    int inherit;               /* CTX_INHERIT_* */
    sl_context parent;         /* CTX_INHERIT_SPAN: the creator's current span */
    lsl_entry *inherit_e;      /* ... its entry and generation (to find its object again) */
    uint32_t inherit_gen;
    uint64_t inherit_seq;      /* ... and when it was made current there */
};

/* The context of one coroutine: one stack per tracer that has used it
 * (the first one in place: most programs have one tracer). */
struct lsl_ctx {
    lua_State *L;
    lsl_state *st;
    lsl_stack *stacks;
    uint32_t lane;
    lsl_stack first;           /* in use when first.tr is set */
};

#define POOL_CHUNK 64

struct lsl_state {
    lua_State *last_L;      /* one-entry cache of the context lookup */
    lsl_ctx *last_ctx;
    uint32_t next_lane;
    uint64_t seq;           /* counts pushes: orders the stacks of a coroutine */
    int hooks;              /* depth of running hooks (of any tracer) */
    lsl_tracer *anchored;   /* tracers in UV_ANCHOR (through anext) */
    lsl_entry **chunks;        /* the entry pool: chunks of POOL_CHUNK entries */
    size_t nchunks, capchunks;
    lsl_entry *free;           /* free entries (through wnext) */
    lsl_entry *watch;          /* open entries whose Lua object decides abandonment */
    sl_attr *attrs, *items;  /* scratch for converting attribute tables */
    size_t cap_attrs, cap_items;
};

enum { HOOK_START = 0, HOOK_EVENT = 1, HOOK_END = 2, HOOK_KINDS = 3 };

struct lsl_tracer {
    uint64_t magic;         /* lsl_span_magic ^ 2 (see lsl_span_test) */
    sl_tracer *t;           /* NULL once closed */
    lsl_state *st;
    lua_State *L;           /* the thread of the current call (clock callback) */
    lsl_entry *open;           /* open spans started by this tracer */
    lsl_stack *stacks;         /* its stack in each coroutine that used it */
    int anchored;              /* in UV_ANCHOR: alive while its spans may be finished */
    int hidden;                /* option hidden: its spans are never spanline.current() */
    uint32_t hook_fns;         /* functions hook-mode instrumentation traces with it */
    lsl_tracer *anext;
    sl_sink_kind sink;
    int clock_ref, write_ref;  /* registry refs of Lua clock / output functions */
    char *pending;          /* callback sink: bytes not yet handed to Lua */
    size_t pending_len, pending_cap;
    char *final;            /* memory sink: the whole output, kept at close */
    size_t final_len;
    int delivering;
    int sampling;           /* sample < 1 */
    int sorted;             /* seeded: attributes of a table in key order (byte-identical output) */
    double sample;
    uint32_t nhooks[HOOK_KINDS];
    uint64_t hook_errors, unsampled, output_errors;
    uint64_t bad_traceparents;  /* malformed remote parents: new traces started instead */
    int hook_reported, output_reported;
    pthread_t owner;        /* the thread that opened it (Lua clock calls) */
    sl_stats final_stats;   /* counters at close */
    lsl_tracer *gprev, *gnext;  /* process-wide list, closed at exit */
};

/* sl_span_context of a span of ours (local and sampled), inline: every
 * child's start asks for it. */
static inline void lsl_parent_of(const sl_span *s, sl_context *out)
{
    out->trace = s->trace;
    out->span = s->id;
    out->flags = 1;
    out->remote = 0;
}

/* lcontext.c. The running coroutine's context.
 * LUA_EXTRASPACE: the first pointer-sized bytes of each coroutine's extra
 * space hold the address of its lsl_ctx, stamped on the first lookup. The
 * stamp is only ever compared (never dereferenced): it validates the
 * one-entry cache (last_L, last_ctx) against a new coroutine allocated at
 * the address of a collected one, whose context may not have been
 * finalized yet. A host that keeps its own data there gets it overwritten
 * (spanline then works, the host's data does not): see the README. */
lsl_ctx *lsl_ctx_get_slow(lua_State *L, lsl_state *st);
static inline lsl_ctx *lsl_ctx_get(lua_State *L, lsl_state *st)
{
    void **extra = (void **)lua_getextraspace(L);
    if (st->last_L == L && *extra == (void *)st->last_ctx)
        return st->last_ctx;
    return lsl_ctx_get_slow(L, st);
}
/* tr's stack in ctx, or NULL (create: made if missing; NULL only without
 * memory). */
lsl_stack *lsl_ctx_stack_slow(lsl_ctx *ctx, lsl_tracer *tr, int create);
static inline lsl_stack *lsl_ctx_stack(lsl_ctx *ctx, lsl_tracer *tr, int create)
{
    lsl_stack *sk = ctx->stacks;
    if (sk && sk->tr == tr) return sk;
    return lsl_ctx_stack_slow(ctx, tr, create);
}
void lsl_ctx_push(lsl_stack *sk, lsl_entry *e);
void lsl_ctx_unlink(lsl_entry *e);
/* Pushes the current span of tr in the running coroutine (or nil). */
void lsl_ctx_push_current(lua_State *L, lsl_ctx *ctx, lsl_tracer *tr);
/* Drops tr's stacks from every context (tracer close). */
void lsl_ctx_forget_tracer(lsl_tracer *tr);
/* Gives the new coroutine co (not yet run) the running coroutine's current
 * spans as its parents: of each tracer, as core.coroutine_create does, or
 * (hooked_only) of the tracers hook-mode instrumentation uses, as the hook
 * does for a coroutine the program made itself. */
void lsl_ctx_inherit(lua_State *L, lsl_state *st, lua_State *co, int hooked_only);
extern const luaL_Reg lsl_ctx_module[];
extern const luaL_Reg lsl_ctx_meta[];

/* lpool.c: the entry pool, the lists an entry is on, and the sentinel that
 * ends the spans whose object was collected. */
lsl_entry *lsl_pool_grow(lsl_state *st);   /* a new chunk; its first entry, or NULL */

static inline lsl_entry *lsl_entry_take(lsl_state *st)
{
    lsl_entry *e = st->free;
    if (e == NULL) return lsl_pool_grow(st);
    st->free = e->wnext;
    return e;
}

static inline void lsl_entry_free(lsl_state *st, lsl_entry *e)
{
    e->gen++;
    e->state = 0;
    e->tr = NULL;
    e->name = NULL;
    if (e->name_heap) {
        free(e->name_heap);
        e->name_heap = NULL;
    }
    e->wprev = NULL;
    e->wnext = st->free;
    st->free = e;
}

static inline void lsl_watch_add(lsl_state *st, lsl_entry *e)
{
    e->wprev = NULL;
    e->wnext = st->watch;
    if (st->watch) st->watch->wprev = e;
    st->watch = e;
}

static inline void lsl_watch_remove(lsl_state *st, lsl_entry *e)
{
    if (e->wprev) e->wprev->wnext = e->wnext;
    else if (st->watch == e) st->watch = e->wnext;
    if (e->wnext) e->wnext->wprev = e->wprev;
    e->wprev = e->wnext = NULL;
}

/* tr's list of open spans (tracer close abandons them) */
static inline void lsl_open_link(lsl_tracer *tr, lsl_entry *e)
{
    e->tr = tr;
    e->tprev = NULL;
    e->tnext = tr->open;
    if (tr->open) tr->open->tprev = e;
    tr->open = e;
}

static inline void lsl_open_unlink(lsl_entry *e)
{
    lsl_tracer *tr = e->tr;
    if (tr == NULL) return;
    if (e->tprev) e->tprev->tnext = e->tnext;
    else if (tr->open == e) tr->open = e->tnext;
    if (e->tnext) e->tnext->tprev = e->tprev;
    e->tprev = e->tnext = NULL;
}

/* Drops an entry from every list and frees it (frames, unsampled roots). */
void lsl_span_release(lsl_state *st, lsl_entry *e);
/* The __gc of the per-cycle sentinel: ends the watched spans whose object
 * was collected, then arms the next sentinel. */
int lsl_pool_sentinel_gc(lua_State *L);

/* lspanident.c: the Lua object of a span (lsl_spanobj) */
/* Per process, drawn when the module opens; odd, so no pointer (the first
 * field of every other userdata here) can equal it. */
extern uint64_t lsl_span_magic;
lsl_spanobj *lsl_span_test(lua_State *L, int idx);
lsl_spanobj *lsl_span_check(lua_State *L, int idx);
/* A new object for entry e (after its start). Leaves it on the stack and in
 * the entry's weak slot. */
lsl_spanobj *lsl_spanobj_new(lua_State *L, lsl_entry *e, const char *name, size_t len);
/* Pushes the span object of the open entry e: the one in its weak slot, or a
 * new one (LS_FRAME entries); nil when its object was collected. */
void lsl_span_push_object(lua_State *L, lsl_entry *e);
/* The tracer ended frame entry e before its owner could (close, a collected
 * coroutine) and frees it before that owner's leave: its object, if any,
 * then does nothing when finished or written, as for any span the tracer
 * ended, instead of raising "already finished". */
void lsl_span_orphan_object(lua_State *L, lsl_entry *e);
extern const luaL_Reg lsl_spanobj_methods[];
extern const luaL_Reg lsl_span_meta[];

/* Fills a new object, allocated with lsl_spanobj_size(linked, len), with
 * the identity and name of e's span (begun; linked: it has a parent). */
static inline void lsl_spanobj_fill(lsl_spanobj *o, const lsl_entry *e, uint32_t state, int linked,
                                    const char *name, size_t len)
{
    const sl_span *s = &e->s;
    o->e = (lsl_entry *)e;
    o->gen = e->gen;
    o->start_ns = s->start_ns;
    o->lane = s->lane;
    o->name_len = (uint32_t)len;
    o->id = s->id;
    char *p = o->tail;
    if (linked) {
        state |= LO_LINKED | (s->parent.remote ? LO_PARENT_REMOTE : 0);
        memcpy(p, &s->trace, sizeof(sl_id));
        memcpy(p + sizeof(sl_id), &s->parent.span, sizeof(sl_id));
        p += 2 * sizeof(sl_id);
    }
    o->state = state;
    memcpy(p, name, len);
    p[len] = '\0';
}

/* What sl_span_context gives for the span of o (a local, sampled parent). */
static inline void lsl_spanobj_context(const lsl_spanobj *o, sl_context *out)
{
    memset(out, 0, sizeof *out);
    out->trace = *lsl_spanobj_trace(o);
    out->span = o->id;
    out->flags = 1;
}

/* The entry o refers to, if it still is o's (not freed and reused). */
static inline lsl_entry *lsl_live_entry(const lsl_spanobj *o)
{
    lsl_entry *e = o->e;
    return e && e->gen == o->gen ? e : NULL;
}

/* lspan.c: starting and ending spans, and the methods that record */
/* Starts a span of tr (userdata at tr_idx). frame == 0: pushes its object
 * (or the no-op span); frame == 1 (traced/with): pushes nothing, the entry
 * is LS_FRAME. Returns the entry, or NULL for the no-op span.
 * attrs_idx: a table of attributes, or with pair the key of one attribute
 * (its value at attrs_idx + 1); opts_idx: an options table. Both 0 when
 * absent. fname names the Lua function for error messages. */
lsl_entry *lsl_span_open(lua_State *L, lsl_tracer *tr, int tr_idx, const char *name, size_t len,
                         int attrs_idx, int pair, int opts_idx, const char *fname, int frame);
/* Ends e (not a no-op): context, tracer, end record; frees it unless LS_FRAME. */
void lsl_span_end(lua_State *L, lsl_entry *e, sl_span_status status, const char *err, size_t errlen);
/* Finishes e with its end hooks. obj_idx: its span object, or 0 (a frame
 * without one). */
void lsl_span_finish(lua_State *L, int obj_idx, lsl_entry *e, sl_span_status status,
                     const char *err, size_t errlen);
/* Ends every open span of tr as abandoned (tracer close). */
void lsl_span_abandon_all(lua_State *L, lsl_tracer *tr);
/* Pushes the message a span records for the error value at idx: strings
 * and numbers as they are, else its __tostring result (run protected), else
 * a description of its type; never raises. */
const char *lsl_span_error_message(lua_State *L, int idx, size_t *len);
/* Reads finish's arguments from idx on: [status [, error]]; the message,
 * if any, stays pushed. */
sl_span_status lsl_span_status_args(lua_State *L, int idx, const char **err, size_t *errlen);
extern const luaL_Reg lsl_span_methods[];

/* lframe.c: traced/with, spans that live exactly as long as a call, and
 * enter/leave, spans between two calls; neither has a Lua object unless one
 * is asked for */
int lsl_frame_with(lua_State *L);
int lsl_frame_traced(lua_State *L);
int lsl_frame_enter(lua_State *L);
int lsl_frame_leave(lua_State *L);
/* Frees the entries still on sk's entered list that no context stack holds
 * (tracer close, a collected coroutine: the ones held are freed with it). */
void lsl_frame_forget_entered(lsl_state *st, lsl_stack *sk);
/* Ends a frame entry (traced/with calls, hook-mode instrumentation): with its
 * end hooks unless a hook or the tracer's close ended it first; then frees it. */
void lsl_span_frame_done(lua_State *L, lsl_state *st, lsl_entry *e, sl_span_status status,
                         const char *err, size_t errlen);

/* lhook.c: hook-mode instrumentation (core.hook_*) */
extern const luaL_Reg lsl_hook_module[];

/* ltracer.c */
int lsl_tracer_write_pending(void *ud, const char *data, size_t len);  /* function output */
uint64_t lsl_tracer_clock(void *ud);                                   /* clock = fn */
/* loptions.c: reads the options table at 1 into cfg and tr; raises on a bad one. */
void lsl_tracer_options(lua_State *L, lsl_tracer *tr, sl_config *cfg);
lsl_tracer *lsl_tracer_check(lua_State *L, int idx);
void lsl_tracer_deliver(lua_State *L, lsl_tracer *tr);
/* Delivers the pending output of every open tracer of st. */
void lsl_tracer_deliver_all(lua_State *L, lsl_state *st);
/* Keeps the tracer at tr_idx alive while it has open spans (span objects do
 * not refer to it): anchored at a span's start, let go by the sentinel once
 * none is open, or at close. */
void lsl_tracer_anchor_slow(lua_State *L, lsl_tracer *tr, int tr_idx);
static inline void lsl_tracer_anchor(lua_State *L, lsl_tracer *tr, int tr_idx)
{
    if (!tr->anchored) lsl_tracer_anchor_slow(L, tr, tr_idx);
}
/* The sentinel's part: lets go of the anchored tracers without open spans. */
void lsl_tracer_release_idle(lua_State *L, lsl_state *st);
/* Pushes the tracer userdata of tr (alive: anchored or referenced). */
void lsl_tracer_push(lua_State *L, lsl_tracer *tr);
/* lcallback.c: tracer:on("start"|"event"|"end", fn) -> unsubscribe */
int lsl_tracer_on(lua_State *L);
/* Calls the hooks of one kind with the span (and nargs more values) on top.
 * Callers run hooks only while none runs (lsl_state.hooks == 0) and never
 * for LS_QUIET spans: spans that hooks make run no hooks, so hooks that
 * start spans cannot feed each other. */
void lsl_tracer_run_hooks(lua_State *L, lsl_tracer *tr, int tr_idx, int kind, int nargs);

/* lattrs.c. Converts the attribute table at idx (a positive index) into
 * st's scratch array (valid until the next call); raises an error naming the
 * key and fname on a bad value. */
const sl_attr *lsl_attrs_from_table(lua_State *L, lsl_state *st, int idx, size_t *n, const char *fname);
/* The same, sorted by key (seeded tracers: output identical across processes). */
const sl_attr *lsl_attrs_from_table_sorted(lua_State *L, lsl_state *st, int idx, size_t *n,
                                           const char *fname);
/* The scalar value at idx (string, number, boolean) into a's type and
 * value; 0 (a untouched) for anything else. */
int lsl_attr_scalar(lua_State *L, int idx, sl_attr *a);
/* One key/value pair (value at vidx). */
const sl_attr *lsl_attrs_from_pair(lua_State *L, const char *key, size_t klen, int vidx,
                                   const char *fname);

#endif
