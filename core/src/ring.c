/*
 * ring.c: the per-thread byte rings that hold binary records until a writer
 * drains them, and the record view (sl_rview).
 *
 * Key idea: a ring position is a 64-bit counter that never wraps; the byte
 * offset is the position masked by the (power of two) capacity, so "used" is
 * always head - tail and no record is ever split across the end. (A record
 * is read in place by ring_rec.h.)
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
