/*
 * lhook.h: what the three files of hook-mode instrumentation share.
 *
 *   lhook.c       the call/return hook: per-thread shadow stacks and the
 *                 spans of instrumented frames
 *   lhookset.c    the set of instrumented functions, putting the hook on
 *                 threads and taking it off, core.hook_*
 *   lhookdebug.c  the program's own debug.sethook / debug.gethook, kept
 *                 working and unchanged while the hook is on
 */
#ifndef LSL_HOOK_H
#define LSL_HOOK_H

#include <stdlib.h>

#include "ltrace.h"

/* One instrumented function (C memory: an open frame keeps it alive after
 * undo, since its span entry points at the name). */
typedef struct hreg {
    lsl_tracer *tr;
    lsl_state *st;          /* the spanline.core instance the tracer belongs to */
    int op_ref;             /* ... and its span op closure */
    const void *fn;
    unsigned refs;          /* 1 while registered, + 1 per open frame */
    size_t len;
    char name[1];
} hreg;

enum {
    F_PLAIN,    /* a Lua or C frame nothing special happens in */
    F_SPAN,     /* an instrumented function: its span */
    F_PCALL,    /* pcall: on return (false, err) names the error */
    F_XPCALL,   /* xpcall: its message handler's argument names it */
    F_RESUME,   /* coroutine.resume(co) */
    F_WRAP,     /* a coroutine.wrap function: resumes its coroutine */
    F_CLOSE,    /* coroutine.close(co) */
    F_CREATE,   /* coroutine.create: the new coroutine inherits the context */
    F_WRAPNEW   /* coroutine.wrap: the same */
};

typedef struct hframe {
    const void *ci;         /* the frame's CallInfo */
    int kind;
    hreg *reg;              /* F_SPAN */
    lsl_entry *e;           /* F_SPAN: NULL for a no-op span */
    uint32_t gen;
    lua_State *co;          /* F_RESUME, F_WRAP, F_CLOSE */
    const void *prev_handler;  /* F_XPCALL: the enclosing xpcall's */
    size_t prev_xtop;
} hframe;

typedef struct hshadow {
    lua_State *L;           /* the thread (NULL once collected) */
    int slot;               /* 1-based index in hstate.slots, 0: none */
    hframe *frames;
    size_t n, cap;
    lua_Hook host;          /* the program's own hook on this thread */
    int host_mask, host_count;
    const void *handler;    /* the innermost xpcall's message handler */
    size_t xtop;            /* 1 + index of that xpcall's frame, 0: none */
    size_t err_at;          /* xtop when the handler ran (its error is kept) */
} hshadow;

/* A loaded copy of spanline.core (a program may load it again, e.g. after
 * clearing package.loaded): its entries and contexts are its own, so span
 * work goes through a closure with its upvalues. */
typedef struct hinst {
    lsl_state *st;
    int op_ref;
} hinst;

#define MAX_INSTANCES 16

typedef struct hstate {
    hinst inst[MAX_INSTANCES];
    int ninst;
    int installed;
    int busy;               /* in a span operation: other threads' events are ignored */
    /* the set of instrumented functions: open addressing on the pointer */
    const void **keys;
    hreg **regs;
    size_t cap, count;
    /* shadows by slot (the hook count of their thread) */
    hshadow **slots;
    int nslots, capslots;
    int *free_slots;
    int nfree;
    size_t open_spans;
    /* C functions recognised by pointer */
    lua_CFunction pcall, xpcall, resume, wrap, create, close, auxwrap;
} hstate;


/* The state whose hook is on (one Lua state of a process at a time). */
extern hstate *lsl_hook_active;
/* The debug library's own hook function (what debug.sethook sets). */
extern lua_Hook lsl_hook_dbhook;

/* Registry keys (their addresses). */
enum { HK_STATE, HK_THREADS, HK_FNS, HK_SHADOW_MT, HK_ERRS, HK_DEBUG, HK_COUNT };
extern char lsl_hook_keys[HK_COUNT];
#define HKEY(k) ((const void *)&lsl_hook_keys[k])

#define OUR_MASK (LUA_MASKCALL | LUA_MASKRET)

/* ===== THE SET (open addressing on the function's address) ===== */

static inline size_t ptr_hash(const void *p, size_t cap)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= UINT64_C(0xed5ad4bb);
    x ^= x >> 11;
    return (size_t)x & (cap - 1);
}

static inline hreg *set_find(const hstate *hs, const void *fn)
{
    if (hs->count == 0) return NULL;
    for (size_t i = ptr_hash(fn, hs->cap);; i = (i + 1) & (hs->cap - 1)) {
        if (hs->keys[i] == fn) return hs->regs[i];
        if (hs->keys[i] == NULL) return NULL;
    }
}

static inline void reg_unref(hreg *r)
{
    if (--r->refs == 0) free(r);
}

/* ===== lhook.c ===== */

/* The hook itself. */
void lsl_hook_fn(lua_State *L, lua_Debug *ar);
/* The shadow of co (which L can reach), made if asked; NULL when none. */
hshadow *lsl_hook_shadow(hstate *hs, lua_State *L, lua_State *co, int make);
/* Sets the hook on co, keeping (and chaining) the one it had. */
void lsl_hook_thread(hshadow *sh, lua_State *co);
int lsl_hook_slot_take(hstate *hs, hshadow *sh);
void lsl_hook_slot_release(hstate *hs, hshadow *sh);
/* Pops the top frame of sh. unwound: an error ended it (msg_idx: the error
 * value, 0: unknown); otherwise it returned (msg_idx -1: abandoned). */
void lsl_hook_pop(hstate *hs, lua_State *L, hshadow *sh, int unwound, int msg_idx);
/* __gc of a shadow: its thread was collected. */
int lsl_hook_shadow_gc(lua_State *L);
/* The span op closure's function (made with the tracer half's upvalues). */
int lsl_hook_op(lua_State *L);

/* ===== lhookdebug.c ===== */

int lsl_hook_sethook(lua_State *L);
int lsl_hook_gethook(lua_State *L);
/* Learns lsl_hook_dbhook from the debug library (dbg: its table's index). */
void lsl_hook_learn_debug(lua_State *L, int dbg);
/* Puts our debug.sethook/gethook in the debug table (on) or the originals back. */
void lsl_hook_swap_debug(lua_State *L, int on);

#endif
