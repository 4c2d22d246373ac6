/*
 * ltrace.h: what ltracer.c, lspan.c and lcontext.c share.
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

#include "lbinding.h"

/* Upvalues shared by every function of the tracer half (luaL_setfuncs). */
enum {
    UV_STATE = 1,   /* lsl_state userdata */
    UV_WEAK,        /* slot -> span object, weak values (also light tracer -> tracer) */
    UV_CTXS,        /* thread -> lsl_ctx userdata, weak keys */
    UV_SPAN_MT,     /* metatable of span objects (no __gc: see lsl_state.watch) */
    UV_TRACER_MT,
    UV_CTX_MT,
    UV_NOOP,        /* the shared no-op span */
    UV_COUNT = UV_NOOP
};

typedef struct lsl_state lsl_state;
typedef struct lsl_tracer lsl_tracer;
typedef struct lsl_entry lsl_entry;
typedef struct lsl_spanobj lsl_spanobj;
typedef struct lsl_ctx lsl_ctx;

#define LS_OPEN 1u      /* started, not ended */
#define LS_NOOP 2u      /* the shared no-op span, or an unsampled root */
#define LS_CLOSED 4u    /* ended as abandoned by tracer:close() */
#define LS_ENDING 8u    /* its end hooks are running */
#define LS_UNSAMPLED 16u /* with LS_NOOP: the root of an unsampled trace, kept in
                          * the context so its children inherit the decision */
#define LS_FRAME 32u    /* owned by a traced/with call: it ends the span and frees
                         * the entry; its span object exists only if asked for */

/* A span's C side: an entry of a pool in C memory (stable addresses, reused),
 * so the core can link through it while the Lua object, which has no __gc,
 * is collected like any small userdata. Abandonment is found by the per-cycle
 * sentinel: an entry on the watch list whose weak slot was cleared. */
struct lsl_entry {
    sl_span s;
    lsl_tracer *tr;           /* while open; NULL for unsampled roots */
    lsl_ctx *ctx;             /* the context stack holding it, or NULL */
    lsl_entry *below, *above;  /* links in ctx's stack */
    lsl_entry *tprev, *tnext;  /* links in tr's list of open spans */
    lsl_entry *wprev, *wnext;  /* watch list (open, with a Lua object), or free list */
    const char *name;       /* LS_FRAME: the caller's name string (alive during the call) */
    size_t name_len;
    uint32_t state;         /* LS_* */
    uint32_t gen;           /* bumped when the entry is freed */
    int slot;               /* fixed index of this entry in UV_WEAK */
};

/* What stays readable on a span object after the end. Kept small: the
 * collector's work per span grows with the bytes allocated per span. */
typedef struct lsl_ident {
    sl_id id, trace, parent;   /* parent: zero for a root */
    uint64_t start_ns;
    uint32_t lane;
    uint8_t has_parent, parent_remote;
} lsl_ident;

/* The Lua object of a span: a reference (entry, gen) plus its identity. */
#define LO_OPEN 1u      /* not finished through this object */
struct lsl_spanobj {
    uint64_t magic;         /* lsl_span_magic: the type check without a metatable lookup */
    lsl_entry *e;              /* NULL: the shared no-op span */
    uint32_t gen;
    uint32_t state;         /* LO_OPEN | LS_NOOP | LS_UNSAMPLED | LS_FRAME */
    lsl_ident id;             /* copied at the start */
    uint32_t name_len;
    char name[1];           /* name_len bytes + NUL follow */
};

/* The context of one coroutine: its stack of current spans. */
struct lsl_ctx {
    lua_State *L;
    lsl_state *st;
    lsl_entry *top;
    uint32_t lane;
    int inherit;             /* CTX_INHERIT_* */
    sl_context parent;       /* CTX_INHERIT_SPAN: the creator's current span */
    lsl_entry *inherit_e;       /* ... its entry and generation (to find its object again) */
    uint32_t inherit_gen;
};

enum { CTX_INHERIT_NONE = 0, CTX_INHERIT_SPAN = 1, CTX_INHERIT_UNSAMPLED = 2 };

#define POOL_CHUNK 64

struct lsl_state {
    lua_State *last_L;      /* one-entry cache of the context lookup */
    lsl_ctx *last_ctx;
    uint32_t next_lane;
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

/* lcontext.c. The running coroutine's context. Note: the ctx pointer is
 * stamped into each thread's LUA_EXTRASPACE (only ever compared, never
 * dereferenced), so a host that uses that space for itself conflicts. */
lsl_ctx *lsl_ctx_get_slow(lua_State *L, lsl_state *st);
static inline lsl_ctx *lsl_ctx_get(lua_State *L, lsl_state *st)
{
    void **extra = (void **)lua_getextraspace(L);
    if (st->last_L == L && *extra == (void *)st->last_ctx)
        return st->last_ctx;
    return lsl_ctx_get_slow(L, st);
}
void lsl_ctx_push(lsl_ctx *ctx, lsl_entry *sp);
void lsl_ctx_unlink(lsl_entry *sp);
/* Pushes the current span of the running coroutine (or nil). */
void lsl_ctx_push_current(lua_State *L, lsl_ctx *ctx);
/* Gives the new coroutine co (not yet run) the running coroutine's current
 * span as its parent, as core.coroutine_create does. */
void lsl_ctx_inherit(lua_State *L, lsl_state *st, lua_State *co);
extern const luaL_Reg lsl_ctx_module[];
extern const luaL_Reg lsl_ctx_meta[];

/* lspan.c */
/* Per process, drawn when the module opens; odd, so no pointer (the first
 * field of every other userdata here) can equal it. */
extern uint64_t lsl_span_magic;
lsl_spanobj *lsl_span_test(lua_State *L, int idx);
lsl_spanobj *lsl_span_check(lua_State *L, int idx);
/* Pushes the span object of the open entry e: the one in its weak slot, or a
 * new one (LS_FRAME entries); nil when its object was collected. */
void lsl_span_push_object(lua_State *L, lsl_entry *e);
/* Starts a span of tr (userdata at tr_idx). frame == 0: pushes its object
 * (or the no-op span); frame == 1 (traced/with): pushes nothing, the entry
 * is LS_FRAME. Returns the entry, or NULL for the no-op span.
 * attrs_idx/opts_idx: 0 when absent. fname names the Lua function for
 * error messages. */
lsl_entry *lsl_span_open(lua_State *L, lsl_tracer *tr, int tr_idx, const char *name, size_t len,
                      int attrs_idx, int opts_idx, const char *fname, int frame);
/* Ends e (not a no-op): context, tracer, end record; frees it unless LS_FRAME. */
void lsl_span_end(lua_State *L, lsl_entry *e, sl_span_status status, const char *err, size_t errlen);
/* Drops an entry from every list and frees it (frames, unsampled roots). */
void lsl_span_release(lsl_state *st, lsl_entry *e);
/* Ends every open span of tr as abandoned (tracer close). */
void lsl_span_abandon_all(lua_State *L, lsl_tracer *tr);
/* Ends a frame entry (traced/with calls, hook-mode instrumentation): with its
 * end hooks unless a hook or the tracer's close ended it first; then frees it. */
void lsl_span_frame_done(lua_State *L, lsl_state *st, lsl_entry *e, sl_span_status status,
                         const char *err, size_t errlen);
/* The message of the error value at idx as a span records it (pushes it). */
const char *lsl_span_error_message(lua_State *L, int idx, size_t *len);
int lsl_span_with(lua_State *L);
int lsl_span_traced(lua_State *L);
/* The __gc of the per-cycle sentinel: ends the watched spans whose object
 * was collected, then arms the next sentinel. */
int lsl_span_sentinel_gc(lua_State *L);
extern const luaL_Reg lsl_span_methods[];
extern const luaL_Reg lsl_span_meta[];

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
/* Calls the hooks of one kind with the span (and nargs more values) on top. */
void lsl_tracer_run_hooks(lua_State *L, lsl_tracer *tr, int tr_idx, int kind, int nargs);

/* lattrs.c. Converts the attribute table at idx into a scratch array (valid until the
 * next call); raises an error naming the key and fname on a bad value. */
const sl_attr *lsl_attrs_from_table(lua_State *L, int idx, size_t *n, const char *fname);
/* The same, sorted by key (seeded tracers: output identical across processes). */
const sl_attr *lsl_attrs_from_table_sorted(lua_State *L, int idx, size_t *n, const char *fname);
/* One key/value pair (value at vidx). */
const sl_attr *lsl_attrs_from_pair(lua_State *L, const char *key, size_t klen, int vidx,
                                   const char *fname);

#endif
