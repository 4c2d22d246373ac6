/*
 * lhook.c: faithful instrumentation. A call/return hook opens and ends the
 * spans of instrumented functions, so no function is replaced: frames, error
 * positions, debug.getinfo/traceback and function identities stay exactly
 * the program's own.
 *
 * Key idea: each hooked thread keeps a shadow stack with one entry per call
 * seen since its hook was set, keyed by the frame's CallInfo (an identity
 * while the frame is active). A return pops its own entry. Entries still
 * above it belong to frames that an error unwound (Lua runs no return hook
 * for those) and that the returning C function stopped (pcall, xpcall,
 * coroutine.resume, or any C function that catches): their spans end with
 * status error, and with the message when the catcher shows it. A tail call
 * ends the replaced frame's span. A coroutine that dies of an error, is
 * closed or is collected ends its spans too.
 *
 * Per-thread lookup: the hook count of a thread (unused while the count
 * event is off) holds its shadow's slot number; a new coroutine inherits its
 * creator's hook and count, and the slot's owner check tells them apart.
 * The program's own debug.sethook/gethook see only the program's hooks: both
 * are replaced while hook mode is on, and the program's hook is called from
 * ours for the events it asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "ltrace.h"

/* ===== TYPES ===== */

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

static hstate *g_hs;        /* the state whose hook is on (one Lua state at a time) */
static lua_Hook g_hookf;    /* the debug library's hook function (debug.sethook) */

/* registry keys (addresses) */
static char KEY_STATE, KEY_THREADS, KEY_FNS, KEY_SHADOW_MT, KEY_ERRS, KEY_DEBUG;

static void hook(lua_State *L, lua_Debug *ar);

#define OUR_MASK (LUA_MASKCALL | LUA_MASKRET)

/* ===== THE SET OF INSTRUMENTED FUNCTIONS ===== */

static size_t ptr_hash(const void *p, size_t cap)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= UINT64_C(0xed5ad4bb);
    x ^= x >> 11;
    return (size_t)x & (cap - 1);
}

static hreg *set_find(const hstate *hs, const void *fn)
{
    if (hs->count == 0) return NULL;
    for (size_t i = ptr_hash(fn, hs->cap);; i = (i + 1) & (hs->cap - 1)) {
        if (hs->keys[i] == fn) return hs->regs[i];
        if (hs->keys[i] == NULL) return NULL;
    }
}

static int set_grow(hstate *hs)
{
    size_t cap = hs->cap ? hs->cap * 2 : 64;
    const void **keys = (const void **)calloc(cap, sizeof *keys);
    hreg **regs = (hreg **)calloc(cap, sizeof *regs);
    if (keys == NULL || regs == NULL) {
        free(keys);
        free(regs);
        return 0;
    }
    for (size_t i = 0; i < hs->cap; i++) {
        if (hs->keys[i] == NULL) continue;
        size_t j = ptr_hash(hs->keys[i], cap);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = hs->keys[i];
        regs[j] = hs->regs[i];
    }
    free(hs->keys);
    free(hs->regs);
    hs->keys = keys;
    hs->regs = regs;
    hs->cap = cap;
    return 1;
}

static int set_add(hstate *hs, hreg *r)
{
    if ((hs->count + 1) * 2 > hs->cap && !set_grow(hs)) return 0;
    size_t i = ptr_hash(r->fn, hs->cap);
    while (hs->keys[i]) i = (i + 1) & (hs->cap - 1);
    hs->keys[i] = r->fn;
    hs->regs[i] = r;
    hs->count++;
    return 1;
}

/* Removes fn (backward-shift deletion: no tombstones). */
static hreg *set_remove(hstate *hs, const void *fn)
{
    if (hs->count == 0) return NULL;
    size_t mask = hs->cap - 1, i = ptr_hash(fn, hs->cap);
    while (hs->keys[i] != fn) {
        if (hs->keys[i] == NULL) return NULL;
        i = (i + 1) & mask;
    }
    hreg *r = hs->regs[i];
    for (size_t j = (i + 1) & mask; hs->keys[j]; j = (j + 1) & mask) {
        size_t home = ptr_hash(hs->keys[j], hs->cap);
        /* j's entry may move to the hole at i if its home is not in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            hs->keys[i] = hs->keys[j];
            hs->regs[i] = hs->regs[j];
            i = j;
        }
    }
    hs->keys[i] = NULL;
    hs->regs[i] = NULL;
    hs->count--;
    return r;
}

static void reg_unref(hreg *r)
{
    if (--r->refs == 0) free(r);
}

/* ===== SHADOW STACKS ===== */

static int slot_take(hstate *hs, hshadow *sh)
{
    if (hs->nfree > 0) {
        int s = hs->free_slots[--hs->nfree];
        hs->slots[s - 1] = sh;
        return s;
    }
    if (hs->nslots == hs->capslots) {
        int cap = hs->capslots ? hs->capslots * 2 : 16;
        hshadow **p = (hshadow **)realloc(hs->slots, (size_t)cap * sizeof *p);
        if (p == NULL) return 0;
        hs->slots = p;
        int *f = (int *)realloc(hs->free_slots, (size_t)cap * sizeof *f);
        if (f == NULL) return 0;
        hs->free_slots = f;
        hs->capslots = cap;
    }
    hs->slots[hs->nslots++] = sh;
    return hs->nslots;
}

static void slot_release(hstate *hs, hshadow *sh)
{
    if (sh->slot == 0) return;
    hs->slots[sh->slot - 1] = NULL;
    hs->free_slots[hs->nfree++] = sh->slot;
    sh->slot = 0;
}

/* Sets our hook on co, keeping (and chaining) the one it had. */
static void hook_thread(hshadow *sh, lua_State *co)
{
    lua_Hook h = lua_gethook(co);
    if (h != hook) {
        sh->host = h;
        sh->host_mask = h ? lua_gethookmask(co) : 0;
        sh->host_count = h ? lua_gethookcount(co) : 0;
    }
    int mask = OUR_MASK | sh->host_mask;
    int count = (sh->host_mask & LUA_MASKCOUNT) ? sh->host_count : sh->slot;
    lua_sethook(co, hook, mask, count);
}

/* A new shadow for the thread at the top of L's stack (a C function run
 * protected: it allocates). Leaves the shadow userdata on the stack. */
static int l_shadow_new(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    hshadow *sh = (hshadow *)lua_newuserdatauv(L, sizeof(hshadow), 0);
    memset(sh, 0, sizeof *sh);
    sh->L = co;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SHADOW_MT);
    lua_setmetatable(L, -2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_THREADS);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    hstate *hs = g_hs;
    sh->slot = hs ? slot_take(hs, sh) : 0;
    return 1;
}

/* The shadow of co (which L can reach), made if asked; NULL when none. */
static hshadow *shadow_find(hstate *hs, lua_State *L, lua_State *co, int make)
{
    int tag = lua_gethookcount(co);
    if (tag > 0 && tag <= hs->nslots) {
        hshadow *sh = hs->slots[tag - 1];
        if (sh && sh->L == co) return sh;
    }
    if (!lua_checkstack(L, 4)) return NULL;
    hshadow *sh = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_THREADS);
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        sh = (hshadow *)lua_touserdata(L, -1);
        lua_pop(L, 2);
        if (lua_gethook(co) == hook) hook_thread(sh, co);   /* re-tag */
        return sh;
    }
    lua_pop(L, 2);
    if (!make) return NULL;
    lua_pushcfunction(L, l_shadow_new);
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) sh = (hshadow *)lua_touserdata(L, -1);
    lua_pop(L, 1);      /* the thread table holds it */
    return sh;
}

static hframe *frame_push(hshadow *sh, const void *ci)
{
    if (sh->n == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 32;
        hframe *p = (hframe *)realloc(sh->frames, cap * sizeof *p);
        if (p == NULL) return NULL;
        sh->frames = p;
        sh->cap = cap;
    }
    hframe *f = &sh->frames[sh->n++];
    f->ci = ci;
    f->kind = F_PLAIN;   /* the other fields are set by the kinds that use them */
    return f;
}

/* ===== OPENING AND ENDING SPANS ===== */

enum { OP_OPEN = 1, OP_END, OP_INHERIT };

static lsl_entry *g_opened;   /* OP_OPEN's result */

static int l_error_message(lua_State *L)
{
    size_t len;
    lsl_span_error_message(L, 1, &len);
    return 1;
}

/* The C closure (with the tracer half's upvalues) that span work goes
 * through: a hook has no upvalues of its own. op, args... */
static int l_hook_op(lua_State *L)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    switch ((int)lua_tointeger(L, 1)) {
    case OP_OPEN: {
        hreg *r = (hreg *)lua_touserdata(L, 2);
        g_opened = NULL;
        if (lua_rawgetp(L, lua_upvalueindex(UV_WEAK), r->tr) != LUA_TUSERDATA) return 0;
        g_opened = lsl_span_open(L, r->tr, 3, r->name, r->len, 0, 0, "instrument", 1);
        return 0;
    }
    case OP_END: {
        lsl_entry *e = (lsl_entry *)lua_touserdata(L, 2);
        if (e->gen != (uint32_t)lua_tointeger(L, 3)) return 0;
        sl_span_status status = (sl_span_status)lua_tointeger(L, 4);
        const char *msg = NULL;
        size_t len = 0;
        if (status == SL_STATUS_ERROR && !lua_isnil(L, 5)) {
            /* a __tostring that fails costs the message, never the end */
            lua_pushcfunction(L, l_error_message);
            lua_pushvalue(L, 5);
            if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
                lua_pop(L, 1);
                lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 5));
            }
            msg = lua_tolstring(L, -1, &len);
        }
        lsl_span_frame_done(L, st, e, status, msg, len);
        return 0;
    }
    case OP_INHERIT:
        lsl_ctx_inherit(L, st, lua_tothread(L, 2));
        return 0;
    }
    return 0;
}

/* Calls the op closure with nargs values already pushed above it. */
static void run_op(hstate *hs, lua_State *L, int nargs)
{
    hs->busy = 1;
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) lua_pop(L, 1);   /* tracing never breaks the program */
    hs->busy = 0;
}

static int push_op(lua_State *L, int ref, int op)
{
    if (!lua_checkstack(L, 8)) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushinteger(L, op);
    return 1;
}

/* The span functions need their module's upvalues (the context table, span
 * objects for hooks) only on their slow paths: when the running thread's
 * context is the cached one and no start hook is set, a span starts here,
 * without a call through the op closure. */
static int open_direct(lua_State *L, const hreg *r)
{
    const lsl_state *st = r->st;
    return st->last_L == L && *(void **)lua_getextraspace(L) == (void *)st->last_ctx &&
           r->tr->nhooks[HOOK_START] == 0;
}

static void span_open(hstate *hs, lua_State *L, hshadow *sh, hreg *r)
{
    size_t at = sh->n - 1;
    g_opened = NULL;
    if (open_direct(L, r)) {
        hs->busy = 1;
        g_opened = lsl_span_open(L, r->tr, 0, r->name, r->len, 0, 0, "instrument", 1);
        hs->busy = 0;
    } else if (push_op(L, r->op_ref, OP_OPEN)) {
        lua_pushlightuserdata(L, r);
        run_op(hs, L, 2);
    } else {
        return;
    }
    hframe *f = &sh->frames[at];
    f->kind = F_SPAN;
    f->reg = r;
    r->refs++;
    f->e = g_opened;
    f->gen = g_opened ? g_opened->gen : 0;
    hs->open_spans++;
}

/* Ends the span of f; msg_idx: the error value's stack index, or 0. */
static void span_close(hstate *hs, lua_State *L, hframe *f, sl_span_status status, int msg_idx)
{
    lsl_entry *e = f->e;
    uint32_t gen = f->gen;
    hreg *r = f->reg;
    f->kind = F_PLAIN;
    f->e = NULL;
    f->reg = NULL;
    hs->open_spans--;
    if (e && e->gen == gen) {
        if (status == SL_STATUS_ABANDONED) {
            if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN && e->tr && e->tr->t)
                lsl_span_end(L, e, SL_STATUS_ABANDONED, NULL, 0);
            lsl_span_release(r->st, e);
            lsl_tracer_deliver_all(L, r->st);
        } else if (e->tr && e->tr->nhooks[HOOK_END] == 0 &&
                   (msg_idx == 0 || lua_type(L, msg_idx) == LUA_TSTRING)) {
            /* no end hook, no __tostring to call: ended here (no upvalues needed) */
            size_t len = 0;
            const char *msg = msg_idx ? lua_tolstring(L, msg_idx, &len) : NULL;
            lsl_tracer *tr = e->tr;
            hs->busy = 1;
            if ((e->state & (LS_OPEN | LS_NOOP)) == LS_OPEN) {
                lsl_span_end(L, e, status, msg, len);
                if (tr->pending_len) lsl_tracer_deliver(L, tr);
            }
            lsl_span_release(r->st, e);
            hs->busy = 0;
        } else if (push_op(L, r->op_ref, OP_END)) {
            lua_pushlightuserdata(L, e);
            lua_pushinteger(L, gen);
            lua_pushinteger(L, status);
            if (msg_idx) lua_pushvalue(L, msg_idx);
            else lua_pushnil(L);
            run_op(hs, L, 5);
        } else {
            lsl_span_release(r->st, e);
        }
    }
    reg_unref(r);
}

/* ===== FRAMES ===== */

static int co_dead(lua_State *co)
{
    lua_Debug ar;
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) return 1;   /* died of an error */
    return status == LUA_OK && !lua_getstack(co, 0, &ar) && lua_gettop(co) == 0;
}

static void pop_frame(hstate *hs, lua_State *L, hshadow *sh, int unwound, int msg_idx);

/* Ends every frame of co's shadow (it died or was closed). */
static void drain_coroutine(hstate *hs, lua_State *L, lua_State *co, sl_span_status status, int msg_idx)
{
    hshadow *sh = shadow_find(hs, L, co, 0);
    if (sh == NULL) return;
    while (sh->n > 0) pop_frame(hs, L, sh, status == SL_STATUS_ERROR, status == SL_STATUS_ERROR ? msg_idx : -1);
}

/* Pops the top frame of sh. unwound: an error ended it (msg_idx: the error
 * value, 0: unknown); otherwise it returned (msg_idx -1: abandoned). */
static void pop_frame(hstate *hs, lua_State *L, hshadow *sh, int unwound, int msg_idx)
{
    hframe f = sh->frames[sh->n - 1];
    sh->n--;
    switch (f.kind) {
    case F_SPAN:
        span_close(hs, L, &f, unwound ? SL_STATUS_ERROR : msg_idx < 0 ? SL_STATUS_ABANDONED : SL_STATUS_OK,
                   unwound ? msg_idx : 0);
        break;
    case F_XPCALL:
        sh->handler = f.prev_handler;
        sh->xtop = f.prev_xtop;
        break;
    case F_WRAP:
        if (unwound && f.co && co_dead(f.co)) drain_coroutine(hs, L, f.co, SL_STATUS_ERROR, msg_idx);
        break;
    case F_CLOSE:
        if (f.co && co_dead(f.co)) drain_coroutine(hs, L, f.co, SL_STATUS_ABANDONED, 0);
        break;
    default:
        break;
    }
}

/* The i-th value a call or return transfers, pushed (ar filled with "r"). */
static int push_transferred(lua_State *L, lua_Debug *ar, int i)
{
    if (i >= ar->ntransfer) return 0;
    return lua_getlocal(L, ar, ar->ftransfer + i) != NULL;
}

/* The error value pushed for frames unwound below the returning catcher f
 * (pcall/resume returning false, err; xpcall: what its handler was given).
 * Returns its index, or 0 when unknown (pushes nothing). */
static int catcher_error(lua_State *L, lua_Debug *ar, hshadow *sh, const hframe *f, size_t at)
{
    if (f->kind == F_XPCALL) {
        if (sh->err_at != at + 1) return 0;
        sh->err_at = 0;
        lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_ERRS);
        lua_rawgetp(L, -1, sh);
        lua_pushnil(L);
        lua_rawsetp(L, -3, sh);
        lua_remove(L, -2);
        return lua_gettop(L);
    }
    if (f->kind != F_PCALL && f->kind != F_RESUME) return 0;
    lua_getinfo(L, "r", ar);
    if (!push_transferred(L, ar, 0)) return 0;
    int failed = lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!failed || !push_transferred(L, ar, 1)) return 0;
    return lua_gettop(L);
}

static void on_return(hstate *hs, lua_State *L, hshadow *sh, lua_Debug *ar)
{
    const void *ci = ar->i_ci;
    size_t i = sh->n;
    if (i > 0 && sh->frames[i - 1].ci == ci && sh->frames[i - 1].kind == F_PLAIN) {
        sh->n--;                 /* the common case: an ordinary frame returns */
        return;
    }
    while (i > 0 && sh->frames[i - 1].ci != ci) i--;
    if (i == 0) return;          /* a frame from before the hook */
    int top = lua_gettop(L);
    hframe *f = &sh->frames[i - 1];
    int msg = 0;
    if (i < sh->n || f->kind == F_RESUME) msg = catcher_error(L, ar, sh, f, i - 1);
    while (sh->n > i) pop_frame(hs, L, sh, 1, msg);
    f = &sh->frames[i - 1];
    if (f->kind == F_RESUME) {
        lua_State *co = f->co;
        if (co && co_dead(co)) drain_coroutine(hs, L, co, msg ? SL_STATUS_ERROR : SL_STATUS_ABANDONED, msg);
    } else if (f->kind == F_CREATE || f->kind == F_WRAPNEW) {
        lua_getinfo(L, "r", ar);
        if (push_transferred(L, ar, 0)) {
            lua_State *co = NULL;
            if (f->kind == F_CREATE) co = lua_tothread(L, -1);
            else if (lua_getupvalue(L, -1, 1)) co = lua_tothread(L, -1);
            for (int k = 0; co && k < hs->ninst; k++) {
                if (!push_op(L, hs->inst[k].op_ref, OP_INHERIT)) break;
                lua_pushthread(co);
                lua_xmove(co, L, 1);
                run_op(hs, L, 2);
            }
            /* the new thread starts with our hook (inherited), its own shadow
             * chains what its creator chained */
            if (co) {
                hshadow *csh = shadow_find(hs, L, co, 1);
                if (csh && csh->host == NULL && csh->n == 0) {
                    csh->host = sh->host;
                    csh->host_mask = sh->host_mask;
                    csh->host_count = sh->host_count;
                    hook_thread(csh, co);
                }
            }
        }
    }
    sh = shadow_find(hs, L, L, 0);   /* (re-read: finalizers may have run) */
    if (sh && sh->n >= i) {
        while (sh->n >= i) pop_frame(hs, L, sh, 0, 0);
    }
    lua_settop(L, top);
}

/* Hooks co (about to be resumed) if it was made before the hook was set. */
static void adopt(hstate *hs, lua_State *L, lua_State *co)
{
    if (co == NULL || co == L || lua_gethook(co) == hook) return;
    hshadow *sh = shadow_find(hs, L, co, 1);
    if (sh) hook_thread(sh, co);
}

static void on_call(hstate *hs, lua_State *L, hshadow *sh, lua_Debug *ar, int tail)
{
    const void *ci = ar->i_ci;
    if (sh->n > 0 && sh->frames[sh->n - 1].ci == ci) {
        /* a tail call replaces the frame; otherwise a new frame at a CallInfo
         * still on the shadow means that entry's frame was unwound */
        pop_frame(hs, L, sh, !tail, 0);
    }
    if (frame_push(sh, ci) == NULL) return;
    lua_getinfo(L, "f", ar);
    int fidx = lua_gettop(L), top = fidx - 1;
    const void *fn = lua_topointer(L, fidx);
    if (fn == sh->handler && sh->xtop) {
        /* an xpcall's message handler runs where the error happened: keep
         * the error value for the frames it unwinds */
        lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_ERRS);
        if (lua_getlocal(L, ar, 1)) {
            lua_rawsetp(L, -2, sh);
            sh->err_at = sh->xtop;
        }
    }
    hreg *r = set_find(hs, fn);
    if (r && r->tr) {
        lua_settop(L, top);
        span_open(hs, L, sh, r);
        return;
    }
    lua_CFunction cf = lua_tocfunction(L, fidx);
    if (cf != NULL) {
        hframe *f = &sh->frames[sh->n - 1];
        if (cf == hs->pcall) {
            f->kind = F_PCALL;
        } else if (cf == hs->xpcall) {
            f->kind = F_XPCALL;
            f->prev_handler = sh->handler;
            f->prev_xtop = sh->xtop;
            sh->handler = lua_getlocal(L, ar, 2) ? lua_topointer(L, -1) : NULL;
            sh->xtop = sh->n;
        } else if (cf == hs->resume || cf == hs->close) {
            f->kind = cf == hs->resume ? F_RESUME : F_CLOSE;
            f->co = lua_getlocal(L, ar, 1) ? lua_tothread(L, -1) : NULL;
            if (cf == hs->resume) adopt(hs, L, f->co);
        } else if (cf == hs->auxwrap) {
            f->kind = F_WRAP;
            f->co = lua_getupvalue(L, fidx, 1) ? lua_tothread(L, -1) : NULL;
            adopt(hs, L, f->co);
        } else if (cf == hs->create) {
            f->kind = F_CREATE;
        } else if (cf == hs->wrap) {
            f->kind = F_WRAPNEW;
        }
    }
    if (lua_gettop(L) == fidx) lua_pop(L, 1);
    else lua_settop(L, top);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    hstate *hs = g_hs;
    if (hs == NULL || !hs->installed) {
        /* a thread that inherited the hook after it was taken off */
        if (lua_gethook(L) == hook) lua_sethook(L, NULL, 0, 0);
        return;
    }
    if (hs->busy) return;
    hshadow *sh;
    int tag = lua_gethookcount(L);
    if (tag > 0 && tag <= hs->nslots && (sh = hs->slots[tag - 1]) != NULL && sh->L == L) {
        /* the most frequent event by far: an ordinary frame returns */
        size_t n = sh->n;
        if (ar->event == LUA_HOOKRET && n > 0 && sh->frames[n - 1].ci == ar->i_ci &&
            sh->frames[n - 1].kind == F_PLAIN && sh->host == NULL) {
            sh->n = n - 1;
            return;
        }
    } else if ((sh = shadow_find(hs, L, L, 1)) == NULL) {
        return;
    }
    lua_Hook host = sh->host;
    int host_wants = sh->host_mask & (1 << ar->event);
    if (ar->event == LUA_HOOKTAILCALL) host_wants = sh->host_mask & LUA_MASKCALL;
    switch (ar->event) {
    case LUA_HOOKCALL: on_call(hs, L, sh, ar, 0); break;
    case LUA_HOOKTAILCALL: on_call(hs, L, sh, ar, 1); break;
    case LUA_HOOKRET: on_return(hs, L, sh, ar); break;
    default: break;
    }
    if (host && host_wants) host(L, ar);
}

/* ===== INSTALLING ===== */

static lua_CFunction field_cfunction(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    return f;
}

static int noop(lua_State *L)
{
    (void)L;
    return 0;
}

/* Which C functions are pcall, resume, ...: by pointer, from the standard
 * libraries as loaded (a Lua replacement is not recognised; errors through
 * it are still found, by the next C function that returns). */
static void learn_functions(lua_State *L, hstate *hs)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    int loaded = lua_gettop(L);
    lua_getfield(L, loaded, "_G");
    hs->pcall = field_cfunction(L, -1, "pcall");
    hs->xpcall = field_cfunction(L, -1, "xpcall");
    lua_getfield(L, loaded, "coroutine");
    int co = lua_gettop(L);
    hs->resume = field_cfunction(L, co, "resume");
    hs->create = field_cfunction(L, co, "create");
    hs->wrap = field_cfunction(L, co, "wrap");
    hs->close = field_cfunction(L, co, "close");
    if (hs->wrap) {
        lua_pushcfunction(L, hs->wrap);
        lua_pushcfunction(L, noop);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) hs->auxwrap = lua_tocfunction(L, -1);
        lua_pop(L, 1);
    }
    /* debug.sethook's own hook function: set it on a scratch thread */
    lua_getfield(L, loaded, "debug");
    int dbg = lua_gettop(L);
    lua_State *scratch = lua_newthread(L);
    lua_getfield(L, dbg, "sethook");
    if (lua_tocfunction(L, -1)) {
        lua_pushvalue(L, -2);
        lua_pushcfunction(L, noop);
        lua_pushliteral(L, "l");
        if (lua_pcall(L, 3, 0, 0) == LUA_OK) g_hookf = lua_gethook(scratch);
        else lua_pop(L, 1);
        lua_getfield(L, dbg, "sethook");
        lua_pushvalue(L, -2);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
    }
    lua_settop(L, top);
}

static int l_sethook(lua_State *L);
static int l_gethook(lua_State *L);

/* debug.sethook/gethook replaced by ours (the originals kept in the
 * registry), or put back; only where they are still what we left. */
static void swap_debug_functions(lua_State *L, int on)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    if (lua_getfield(L, -1, "debug") != LUA_TTABLE) {
        lua_settop(L, top);
        return;
    }
    int dbg = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_DEBUG);   /* {sethook, gethook, ours_set, ours_get} */
    int saved = lua_gettop(L);
    static const char *const names[] = {"sethook", "gethook"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, dbg, names[i]);
        lua_rawgeti(L, saved, 3 + i);
        int ours = lua_rawequal(L, -1, -2);
        lua_pop(L, 1);
        if (on && !ours) {
            lua_rawseti(L, saved, 1 + i);              /* the original */
            lua_rawgeti(L, saved, 3 + i);
            lua_setfield(L, dbg, names[i]);
        } else if (!on && ours) {
            lua_pop(L, 1);
            lua_rawgeti(L, saved, 1 + i);
            lua_setfield(L, dbg, names[i]);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}

static void install(lua_State *L, hstate *hs)
{
    if (hs->installed) return;
    learn_functions(L, hs);
    g_hs = hs;
    hs->installed = 1;
    swap_debug_functions(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    hshadow *sh = shadow_find(hs, L, main, 1);
    if (sh) hook_thread(sh, main);
    if (L != main && (sh = shadow_find(hs, L, L, 1)) != NULL) hook_thread(sh, L);
}

/* Takes the hook off every thread it knows (their own hooks go back) and
 * ends the spans still open there (status ok: they end at the undo). */
static void uninstall(lua_State *L, hstate *hs)
{
    if (!hs->installed) return;
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_THREADS);
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        hshadow *sh = (hshadow *)lua_touserdata(L, -1);
        lua_State *co = lua_tothread(L, -2);
        lua_pop(L, 1);
        if (sh == NULL || co == NULL) continue;
        while (sh->n > 0) pop_frame(hs, L, sh, 0, 0);
        if (lua_gethook(co) == hook) lua_sethook(co, sh->host, sh->host_mask, sh->host_count);
        sh->host = NULL;
        sh->host_mask = sh->host_count = 0;
        slot_release(hs, sh);
    }
    lua_settop(L, top);
    /* shadows made again on the next install */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_THREADS);
    swap_debug_functions(L, 0);
    /* no frame holds an op closure any more: copies of spanline.core a
     * program dropped may be collected */
    for (int i = 0; i < hs->ninst; i++) luaL_unref(L, LUA_REGISTRYINDEX, hs->inst[i].op_ref);
    hs->ninst = 0;
    hs->installed = 0;
    if (g_hs == hs) g_hs = NULL;
}

/* ===== THE PROGRAM'S OWN debug.sethook / debug.gethook ===== */

/* As ldblib.c does: an optional thread first. */
static lua_State *get_thread(lua_State *L, int *arg)
{
    if (lua_isthread(L, 1)) {
        *arg = 1;
        return lua_tothread(L, 1);
    }
    *arg = 0;
    return L;
}

static int make_mask(const char *smask, int count)
{
    int mask = 0;
    if (strchr(smask, 'c')) mask |= LUA_MASKCALL;
    if (strchr(smask, 'r')) mask |= LUA_MASKRET;
    if (strchr(smask, 'l')) mask |= LUA_MASKLINE;
    if (count > 0) mask |= LUA_MASKCOUNT;
    return mask;
}

/* debug.sethook([thread,] hook, mask [, count]): what the debug library
 * does (the same argument checks and hook table), with the hook kept as
 * the thread's own and called from ours. */
static int l_sethook(lua_State *L)
{
    int arg, mask, count;
    lua_State *L1 = get_thread(L, &arg);
    hstate *hs = g_hs;
    lua_Hook func;
    if (lua_isnoneornil(L, arg + 1)) {
        lua_settop(L, arg + 1);
        func = NULL;
        mask = 0;
        count = 0;
    } else {
        const char *smask = luaL_checkstring(L, arg + 2);
        luaL_checktype(L, arg + 1, LUA_TFUNCTION);
        count = (int)luaL_optinteger(L, arg + 3, 0);
        func = g_hookf;
        mask = make_mask(smask, count);
    }
    if (!luaL_getsubtable(L, LUA_REGISTRYINDEX, "_HOOKKEY")) {
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_pushvalue(L, -1);
        lua_setmetatable(L, -2);
    }
    if (L1 != L && !lua_checkstack(L1, 1)) return luaL_error(L, "stack overflow");
    lua_pushthread(L1);
    lua_xmove(L1, L, 1);
    lua_pushvalue(L, arg + 1);
    lua_rawset(L, -3);
    hshadow *sh = hs && hs->installed ? shadow_find(hs, L, L1, 1) : NULL;
    if (sh == NULL) {
        lua_sethook(L1, func, mask, count);
        return 0;
    }
    sh->host = func;
    sh->host_mask = func ? mask : 0;
    sh->host_count = func ? count : 0;
    lua_sethook(L1, hook, OUR_MASK | sh->host_mask,
                (sh->host_mask & LUA_MASKCOUNT) ? sh->host_count : sh->slot);
    return 0;
}

/* debug.gethook([thread]): the thread's own hook, as if ours were not set. */
static int l_gethook(lua_State *L)
{
    int arg;
    lua_State *L1 = get_thread(L, &arg);
    hstate *hs = g_hs;
    lua_Hook h = lua_gethook(L1);
    int mask = lua_gethookmask(L1), count = lua_gethookcount(L1);
    if (h == hook && hs) {
        hshadow *sh = shadow_find(hs, L, L1, 0);
        h = sh ? sh->host : NULL;
        mask = sh ? sh->host_mask : 0;
        count = sh ? sh->host_count : 0;
    }
    if (h == NULL) {
        luaL_pushfail(L);
        return 1;
    }
    if (h != g_hookf) {
        lua_pushliteral(L, "external hook");
    } else {
        lua_getfield(L, LUA_REGISTRYINDEX, "_HOOKKEY");
        if (L1 != L && !lua_checkstack(L1, 1)) return luaL_error(L, "stack overflow");
        lua_pushthread(L1);
        lua_xmove(L1, L, 1);
        lua_rawget(L, -2);
        lua_remove(L, -2);
    }
    char buff[5];
    int i = 0;
    if (mask & LUA_MASKCALL) buff[i++] = 'c';
    if (mask & LUA_MASKRET) buff[i++] = 'r';
    if (mask & LUA_MASKLINE) buff[i++] = 'l';
    buff[i] = '\0';
    lua_pushstring(L, buff);
    lua_pushinteger(L, count);
    return 3;
}

/* ===== LIFETIMES ===== */

/* A collected coroutine: the spans it held open can never end now. */
static int l_shadow_gc(lua_State *L)
{
    hshadow *sh = (hshadow *)lua_touserdata(L, 1);
    hstate *hs = g_hs;
    if (hs) {
        while (sh->n > 0) pop_frame(hs, L, sh, 0, -1);
        slot_release(hs, sh);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_ERRS);   /* an error kept for an xpcall */
    lua_pushnil(L);
    lua_rawsetp(L, -2, sh);
    lua_pop(L, 1);
    sh->L = NULL;
    free(sh->frames);
    sh->frames = NULL;
    sh->n = sh->cap = 0;
    return 0;
}

static int l_state_gc(lua_State *L)
{
    hstate *hs = (hstate *)lua_touserdata(L, 1);
    if (g_hs == hs) {
        hs->installed = 0;
        g_hs = NULL;
    }
    for (size_t i = 0; i < hs->cap; i++)
        if (hs->keys[i]) reg_unref(hs->regs[i]);
    free(hs->keys);
    free(hs->regs);
    free(hs->slots);
    free(hs->free_slots);
    memset(hs, 0, sizeof *hs);
    return 0;
}

/* This Lua state's hook state, made on first use. */
static hstate *get_state(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_STATE) == LUA_TUSERDATA) {
        hstate *hs = (hstate *)lua_touserdata(L, -1);
        lua_pop(L, 1);
        return hs;
    }
    lua_pop(L, 1);
    hstate *hs = (hstate *)lua_newuserdatauv(L, sizeof(hstate), 0);
    memset(hs, 0, sizeof *hs);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_state_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_STATE);

    lua_createtable(L, 0, 1);                       /* shadow metatable */
    lua_pushcfunction(L, l_shadow_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_SHADOW_MT);
    lua_newtable(L);                                /* thread -> shadow, weak keys */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_THREADS);
    lua_newtable(L);                                /* fn -> tracer (keeps both) */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_FNS);
    lua_newtable(L);                                /* light shadow -> error value */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_ERRS);
    lua_createtable(L, 4, 0);                       /* saved / our debug functions */
    lua_pushcfunction(L, l_sethook);
    lua_rawseti(L, -2, 3);
    lua_pushcfunction(L, l_gethook);
    lua_rawseti(L, -2, 4);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_DEBUG);
    return hs;
}

/* The calling copy of spanline.core (its op closure made on first use);
 * NULL when there are too many. */
static hinst *get_instance(lua_State *L, hstate *hs)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    for (int i = 0; i < hs->ninst; i++)
        if (hs->inst[i].st == st) return &hs->inst[i];
    if (hs->ninst == MAX_INSTANCES) return NULL;
    /* the span op closure shares this function's upvalues */
    for (int i = 1; i <= UV_COUNT; i++) lua_pushvalue(L, lua_upvalueindex(i));
    lua_pushcclosure(L, l_hook_op, UV_COUNT);
    hinst *in = &hs->inst[hs->ninst++];
    in->st = st;
    in->op_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return in;
}

/* ===== MODULE FUNCTIONS ===== */

/* core.hook_add(fn, tracer, name) -> true, or false when fn is already
 * instrumented. Sets the hook on first use. */
static int l_hook_add(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lsl_tracer *tr = lsl_tracer_check(L, 2);
    size_t len;
    const char *name = luaL_checklstring(L, 3, &len);
    hstate *hs = get_state(L);
    if (g_hs && g_hs != hs)
        return luaL_error(L, "hook-mode instrumentation is on in another Lua state of this process");
    const void *fn = lua_topointer(L, 1);
    if (set_find(hs, fn)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    hinst *in = get_instance(L, hs);
    if (in == NULL) return luaL_error(L, "spanline.core is loaded too many times for hook mode");
    hreg *r = (hreg *)malloc(sizeof(hreg) + len);
    if (r == NULL) return luaL_error(L, "not enough memory");
    r->tr = tr;
    r->st = in->st;
    r->op_ref = in->op_ref;
    r->fn = fn;
    r->refs = 1;
    r->len = len;
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    if (!set_add(hs, r)) {
        free(r);
        return luaL_error(L, "not enough memory");
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_FNS);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    install(L, hs);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.hook_remove(fn) -> true if it was instrumented. The hook comes off
 * with the last function. */
static int l_hook_remove(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    hstate *hs = get_state(L);
    hreg *r = set_remove(hs, lua_topointer(L, 1));
    if (r == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    r->tr = NULL;
    reg_unref(r);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_FNS);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    if (hs->count == 0) uninstall(L, hs);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.hook_name(fn) -> the span name of an instrumented function, or nil. */
static int l_hook_name(lua_State *L)
{
    hstate *hs = get_state(L);
    hreg *r = set_find(hs, lua_topointer(L, 1));
    if (r == NULL || lua_type(L, 1) != LUA_TFUNCTION) return 0;
    lua_pushlstring(L, r->name, r->len);
    return 1;
}

/* core.hook_unwind(err) -> n: ends (status error, message err) the spans of
 * the calling thread's frames deeper than the caller: for a program whose
 * error left through a catcher the hook did not see return (lua.c's SIGINT
 * handler takes the hook off). */
static int l_hook_unwind(lua_State *L)
{
    hstate *hs = get_state(L);
    if (!hs->installed) {
        lua_pushinteger(L, 0);
        return 1;
    }
    hshadow *sh = shadow_find(hs, L, L, 0);
    lua_Debug ar;
    const void *caller = lua_getstack(L, 1, &ar) ? ar.i_ci : NULL;
    size_t i = 0, n = 0;
    if (sh) {
        i = sh->n;
        while (i > 0 && sh->frames[i - 1].ci != caller) i--;
        lua_settop(L, 1);
        while (sh->n > i) {
            n += sh->frames[sh->n - 1].kind == F_SPAN;
            pop_frame(hs, L, sh, 1, lua_isnil(L, 1) ? 0 : 1);
        }
    }
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* core.hook_stats() -> {functions, open, threads, installed} */
static int l_hook_stats(lua_State *L)
{
    hstate *hs = get_state(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)hs->count);
    lua_setfield(L, -2, "functions");
    lua_pushinteger(L, (lua_Integer)hs->open_spans);
    lua_setfield(L, -2, "open");
    lua_pushinteger(L, hs->nslots - hs->nfree);
    lua_setfield(L, -2, "threads");
    lua_pushboolean(L, hs->installed);
    lua_setfield(L, -2, "installed");
    return 1;
}

const luaL_Reg lsl_hook_module[] = {
    {"hook_add", l_hook_add},
    {"hook_remove", l_hook_remove},
    {"hook_name", l_hook_name},
    {"hook_unwind", l_hook_unwind},
    {"hook_stats", l_hook_stats},
    {NULL, NULL}
};
