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
 */
#include <string.h>

#include "lhook.h"

hstate *lsl_hook_active;
lua_Hook lsl_hook_dbhook;
char lsl_hook_keys[HK_COUNT];

/* ===== SHADOW STACKS ===== */

int lsl_hook_slot_take(hstate *hs, hshadow *sh)
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

void lsl_hook_slot_release(hstate *hs, hshadow *sh)
{
    if (sh->slot == 0) return;
    hs->slots[sh->slot - 1] = NULL;
    hs->free_slots[hs->nfree++] = sh->slot;
    sh->slot = 0;
}

/* Sets our hook on co, keeping (and chaining) the one it had. */
void lsl_hook_thread(hshadow *sh, lua_State *co)
{
    lua_Hook h = lua_gethook(co);
    if (h != lsl_hook_fn) {
        sh->host = h;
        sh->host_mask = h ? lua_gethookmask(co) : 0;
        sh->host_count = h ? lua_gethookcount(co) : 0;
    }
    int mask = OUR_MASK | sh->host_mask;
    int count = (sh->host_mask & LUA_MASKCOUNT) ? sh->host_count : sh->slot;
    lua_sethook(co, lsl_hook_fn, mask, count);
}

/* A new shadow for the thread at the top of L's stack (a C function run
 * protected: it allocates). Leaves the shadow userdata on the stack. */
static int l_shadow_new(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    hshadow *sh = (hshadow *)lua_newuserdatauv(L, sizeof(hshadow), 0);
    memset(sh, 0, sizeof *sh);
    sh->L = co;
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_SHADOW_MT));
    lua_setmetatable(L, -2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_THREADS));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    hstate *hs = lsl_hook_active;
    sh->slot = hs ? lsl_hook_slot_take(hs, sh) : 0;
    return 1;
}

/* The shadow of co (which L can reach), made if asked; NULL when none. */
hshadow *lsl_hook_shadow(hstate *hs, lua_State *L, lua_State *co, int make)
{
    int tag = lua_gethookcount(co);
    if (tag > 0 && tag <= hs->nslots) {
        hshadow *sh = hs->slots[tag - 1];
        if (sh && sh->L == co) return sh;
    }
    if (!lua_checkstack(L, 4)) return NULL;
    hshadow *sh = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_THREADS));
    lua_pushthread(co);
    if (co != L) lua_xmove(co, L, 1);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        sh = (hshadow *)lua_touserdata(L, -1);
        lua_pop(L, 2);
        if (lua_gethook(co) == lsl_hook_fn) lsl_hook_thread(sh, co);   /* re-tag */
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
int lsl_hook_op(lua_State *L)
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

/* Ends every frame of co's shadow (it died or was closed). */
static void drain_coroutine(hstate *hs, lua_State *L, lua_State *co, sl_span_status status, int msg_idx)
{
    hshadow *sh = lsl_hook_shadow(hs, L, co, 0);
    if (sh == NULL) return;
    while (sh->n > 0) lsl_hook_pop(hs, L, sh, status == SL_STATUS_ERROR, status == SL_STATUS_ERROR ? msg_idx : -1);
}

/* Pops the top frame of sh. unwound: an error ended it (msg_idx: the error
 * value, 0: unknown); otherwise it returned (msg_idx -1: abandoned). */
void lsl_hook_pop(hstate *hs, lua_State *L, hshadow *sh, int unwound, int msg_idx)
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
        lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_ERRS));
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
    while (sh->n > i) lsl_hook_pop(hs, L, sh, 1, msg);
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
                hshadow *csh = lsl_hook_shadow(hs, L, co, 1);
                if (csh && csh->host == NULL && csh->n == 0) {
                    csh->host = sh->host;
                    csh->host_mask = sh->host_mask;
                    csh->host_count = sh->host_count;
                    lsl_hook_thread(csh, co);
                }
            }
        }
    }
    sh = lsl_hook_shadow(hs, L, L, 0);   /* (re-read: finalizers may have run) */
    if (sh && sh->n >= i) {
        while (sh->n >= i) lsl_hook_pop(hs, L, sh, 0, 0);
    }
    lua_settop(L, top);
}

/* Hooks co (about to be resumed) if it was made before the hook was set. */
static void adopt(hstate *hs, lua_State *L, lua_State *co)
{
    if (co == NULL || co == L || lua_gethook(co) == lsl_hook_fn) return;
    hshadow *sh = lsl_hook_shadow(hs, L, co, 1);
    if (sh) lsl_hook_thread(sh, co);
}

static void on_call(hstate *hs, lua_State *L, hshadow *sh, lua_Debug *ar, int tail)
{
    const void *ci = ar->i_ci;
    if (sh->n > 0 && sh->frames[sh->n - 1].ci == ci) {
        /* a tail call replaces the frame; otherwise a new frame at a CallInfo
         * still on the shadow means that entry's frame was unwound */
        lsl_hook_pop(hs, L, sh, !tail, 0);
    }
    if (frame_push(sh, ci) == NULL) return;
    lua_getinfo(L, "f", ar);
    int fidx = lua_gettop(L), top = fidx - 1;
    const void *fn = lua_topointer(L, fidx);
    if (fn == sh->handler && sh->xtop) {
        /* an xpcall's message handler runs where the error happened: keep
         * the error value for the frames it unwinds */
        lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_ERRS));
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

void lsl_hook_fn(lua_State *L, lua_Debug *ar)
{
    hstate *hs = lsl_hook_active;
    if (hs == NULL || !hs->installed) {
        /* a thread that inherited the hook after it was taken off */
        if (lua_gethook(L) == lsl_hook_fn) lua_sethook(L, NULL, 0, 0);
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
    } else if ((sh = lsl_hook_shadow(hs, L, L, 1)) == NULL) {
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

/* ===== LIFETIME ===== */

/* A collected coroutine: the spans it held open can never end now. */
int lsl_hook_shadow_gc(lua_State *L)
{
    hshadow *sh = (hshadow *)lua_touserdata(L, 1);
    hstate *hs = lsl_hook_active;
    if (hs) {
        while (sh->n > 0) lsl_hook_pop(hs, L, sh, 0, -1);
        lsl_hook_slot_release(hs, sh);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, HKEY(HK_ERRS));   /* an error kept for an xpcall */
    lua_pushnil(L);
    lua_rawsetp(L, -2, sh);
    lua_pop(L, 1);
    sh->L = NULL;
    free(sh->frames);
    sh->frames = NULL;
    sh->n = sh->cap = 0;
    return 0;
}
