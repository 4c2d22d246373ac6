/*
 * ring.c: the per-thread byte rings that hold binary records until a writer
 * drains them, and the decoding of one record in a ring (sl_rview).
 *
 * Key idea: a ring position is a 64-bit counter that never wraps; the byte
 * offset is the position masked by the (power of two) capacity, so "used" is
 * always head - tail and no record is ever split across the end.
 */
#include <stdlib.h>

#include "internal.h"

int sl_ring_init(sl_ring *r, size_t bytes)
{
    uint64_t cap = 4096;
    while (cap < bytes && cap < ((uint64_t)1 << 40)) cap <<= 1;
    memset(r, 0, sizeof *r);
    r->mem = malloc(cap);
    if (!r->mem) return -1;
    /* touch every page now: a first-touch fault costs more than a span */
    memset(r->mem, 0, cap);
    r->cap = cap;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

void sl_ring_free(sl_ring *r)
{
    free(r->mem);
    r->mem = NULL;
}

void sl_rview_decode(const char *rec, sl_rview *v)
{
    sl_rhdr h;
    memcpy(&h, rec, sizeof h);
    const char *p = rec + sizeof h;
    v->type = h.type;
    v->status = h.status;
    v->flags = h.flags;
    v->lane = h.lane;
    v->ts = h.ts;
    v->id = h.id;
    if (h.type == SL_REC_START) {
        memcpy(&v->trace, p, 16);
        memcpy(&v->parent, p + 16, 16);
        p += 32;
    }
    v->text = p;
    v->text_len = h.text_len;
    p += h.text_len;
    v->attrs = p;
    v->nattrs = h.nattrs;
}
