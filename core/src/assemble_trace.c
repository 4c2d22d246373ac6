/*
 * assemble_trace.c: which trace each assembled span belongs to, the
 * trace table's counts, and when a trace is complete (TRACES mode).
 *
 * Key idea: a trace entry counts its spans (open, unfinished, waiting for
 * a parent, errors) and goes when its last span goes, so the table holds
 * only the traces of kept spans; a trace is queued for handing out when
 * none of its spans is open, lacks its start or end, or waits for a parent.
 */
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

/* ===== TRACES ===== */

uint32_t sl_asm_trace_find(sl_assembler *a, const sl_id *id)
{
    /* Spans of one trace tend to come together: try the last one first. */
    uint32_t t = a->last_trace;
    if (t != NONE && a->traces[t].live && memcmp(a->traces[t].id.bytes, id->bytes, 16) == 0) return t;
    keysrc src = sl_asm_src(a);
    t = sl_reftab_find(&a->trace_ids, &src, id);
    if (t != NONE) return a->last_trace = t;
    if (a->tfree_head != NONE) {
        t = a->tfree_head;
        a->tfree_head = a->traces[t].next_free;
    } else {
        if (a->ntraces == a->tcap) {
            size_t cap = a->tcap;
            if (sl_asm_grow((void **)&a->traces, &cap, (size_t)a->ntraces + 1, sizeof *a->traces) != SL_OK)
                return NONE;
            a->tcap = (uint32_t)cap;
        }
        t = a->ntraces++;
    }
    trace_ent *e = &a->traces[t];
    memset(e, 0, sizeof *e);
    e->id = *id;
    e->head = NONE;
    e->next_free = NONE;
    e->live = 1;
    src = sl_asm_src(a);
    if (sl_reftab_put(&a->trace_ids, &src, t) != SL_OK) {
        e->live = 0;
        e->next_free = a->tfree_head;
        a->tfree_head = t;
        return NONE;
    }
    a->st.traces++;
    return a->last_trace = t;
}

/* Takes a live trace out of the id table (spans with its id arriving from
 * now on start a new one); with free, its entry is reused. */
void sl_asm_trace_retire(sl_assembler *a, uint32_t t, int free_it)
{
    trace_ent *e = &a->traces[t];
    if (e->live) {
        keysrc src = sl_asm_src(a);
        sl_reftab_remove(&a->trace_ids, &src, t);
        e->live = 0;
        a->st.traces--;
    }
    if (free_it) {
        e->next_free = a->tfree_head;
        a->tfree_head = t;
    }
}

void sl_asm_trace_release(sl_assembler *a, uint32_t t)
{
    sl_asm_trace_retire(a, t, 1);
}

int sl_asm_trace_complete(const sl_assembler *a, uint32_t t)
{
    const trace_ent *e = &a->traces[t];
    return e->nspans > 0 && e->nunfinished == 0 && e->nwaiting == 0;
}

/* TRACES: queue a trace that looks complete (checked again when taken). */
void sl_asm_maybe_queue(sl_assembler *a, uint32_t t)
{
    if (a->opts.mode != SL_ASM_TRACES || t == NONE) return;
    trace_ent *e = &a->traces[t];
    if (e->queued || !sl_asm_trace_complete(a, t)) return;
    if (sl_asm_push_queue(a, t) == SL_OK) e->queued = 1;
}

static int is_unfinished(const slot *s)
{
    return (s->flags & (SL_ASPAN_STARTED | SL_ASPAN_ENDED)) != (SL_ASPAN_STARTED | SL_ASPAN_ENDED);
}

/* Adds (sign 1) or takes away (sign -1) a span's share of its trace's
 * counts; around a change of the span's state, take then add. */
void sl_asm_trace_count(sl_assembler *a, uint32_t r, int sign)
{
    const slot *s = &a->slots[r];
    if (s->trace == NONE) return;
    trace_ent *e = &a->traces[s->trace];
    uint32_t d = (uint32_t)sign;
    e->nspans += d;
    if (!(s->flags & SL_ASPAN_ENDED)) e->nopen += d;
    if (is_unfinished(s)) e->nunfinished += d;
    if (s->flags & F_WAITING) e->nwaiting += d;
    if (s->status == ST_ERROR) e->nerrors += d;
    if (s->status == ST_ABANDONED) e->nabandoned += d;
    if (sign > 0 && (s->flags & SL_ASPAN_STARTED)) {
        if (e->start == 0 || s->start < e->start) e->start = s->start;
        uint64_t f = (s->flags & SL_ASPAN_ENDED) ? s->finish : s->start;
        if (f > e->finish) e->finish = f;
    }
}

/* Moves a span (its membership and counts) from its trace to t (NONE:
 * none). A trace left empty goes, unless it is queued or handed out. */
void sl_asm_set_trace(sl_assembler *a, uint32_t r, uint32_t t)
{
    slot *s = &a->slots[r];
    uint32_t old = s->trace;
    if (old == t) return;
    int traces_mode = a->opts.mode == SL_ASM_TRACES;
    if (old != NONE) {
        sl_asm_trace_count(a, r, -1);
        trace_ent *e = &a->traces[old];
        if (traces_mode) {
            if (s->m.t.next == r) {
                e->head = NONE;
            } else {
                a->slots[s->m.t.prev].m.t.next = s->m.t.next;
                a->slots[s->m.t.next].m.t.prev = s->m.t.prev;
                if (e->head == r) e->head = s->m.t.next;
            }
        }
        if (e->nspans == 0 && e->live && !e->queued) sl_asm_trace_release(a, old);
        else sl_asm_maybe_queue(a, old);
    }
    s->trace = t;
    if (t == NONE) return;
    sl_asm_trace_count(a, r, 1);
    if (traces_mode) {
        trace_ent *e = &a->traces[t];
        if (e->head == NONE) {
            s->m.t.next = s->m.t.prev = r;
            e->head = r;
        } else {
            uint32_t h = e->head, tail = a->slots[h].m.t.prev;
            s->m.t.next = h;
            s->m.t.prev = tail;
            a->slots[tail].m.t.next = r;
            a->slots[h].m.t.prev = r;
        }
    }
}

int sl_asm_set_trace_id(sl_assembler *a, uint32_t r, const sl_id *id)
{
    uint32_t t = sl_asm_trace_find(a, id);
    if (t == NONE) return SL_ENOMEM;
    sl_asm_set_trace(a, r, t);
    return SL_OK;
}

