/*
 * lpool.c: the pool of span entries and the sentinel that finds abandoned
 * spans.
 *
 * Key idea: entries live in C chunks (stable addresses, reused through a
 * free list, a generation number bumped on each reuse), so the core and the
 * context stacks link through them while span objects carry no __gc.
 * Instead, one sentinel object per collection cycle runs a finalizer that
 * walks the watched entries: an entry whose weak slot (UV_WEAK[slot]) was
 * cleared lost its object unfinished and is ended as "abandoned".
 */
#include <stdlib.h>

#include "ltrace.h"

lsl_entry *lsl_pool_grow(lsl_state *st)
{
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

void lsl_span_release(lsl_state *st, lsl_entry *e)
{
    lsl_ctx_unlink(e);
    lsl_open_unlink(e);
    if (!(e->state & LS_FRAME)) lsl_watch_remove(st, e);
    lsl_entry_free(st, e);
}

/* Runs once per collection cycle, after the cycle cleared the weak slots of
 * the span objects it found unreachable: those spans can never be finished. */
int lsl_pool_sentinel_gc(lua_State *L)
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
    lsl_tracer_release_idle(L, st);
    /* the next cycle's sentinel (refused while the state closes) */
    lua_newuserdatauv(L, 0, 0);
    if (lua_getmetatable(L, 1)) lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}
