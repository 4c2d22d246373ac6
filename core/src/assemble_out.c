/*
 * assemble_out.c: what the assembler hands out (sl_assembler_next,
 * _next_trace, _finish) and the accessors that read a kept span.
 *
 * Key idea: handing out never frees at once: the span (or trace) handed
 * out last is forgotten at the next call, so the pointers and refs a
 * consumer got stay valid until then.
 */
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

/* ===== HANDING OUT ===== */

/* The ready queue: spans (STREAM) or traces (TRACES), first in first out. */
int sl_asm_push_queue(sl_assembler *a, uint32_t x)
{
    if (a->qhead + a->qlen == a->qcap) {
        if (a->qhead > 0) {
            memmove(a->queue, a->queue + a->qhead, a->qlen * sizeof *a->queue);
            a->qhead = 0;
        } else if (sl_asm_grow((void **)&a->queue, &a->qcap, a->qlen + 1, sizeof *a->queue) != SL_OK) {
            return SL_ENOMEM;
        }
    }
    a->queue[a->qhead + a->qlen++] = x;
    return SL_OK;
}


static int by_key(const void *x, const void *y)
{
    const sortkey *a = x, *b = y;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return memcmp(a->id.bytes, b->id.bytes, 16);
}

/* Sorts refs by start (0 without one), then id. */
static int sort_refs(sl_assembler *a, uint32_t *refs, size_t n)
{
    if (n < 2) return SL_OK;
    if (sl_asm_grow((void **)&a->keys, &a->keys_cap, n, sizeof *a->keys) != SL_OK) return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const slot *s = &a->slots[refs[i]];
        a->keys[i].start = (s->flags & SL_ASPAN_STARTED) ? s->start : 0;
        a->keys[i].id = s->id;
        a->keys[i].ref = refs[i];
    }
    qsort(a->keys, n, sizeof *a->keys, by_key);
    for (size_t i = 0; i < n; i++) refs[i] = a->keys[i].ref;
    return SL_OK;
}

int sl_assembler_finish(sl_assembler *a)
{
    if (!a) return SL_EINVAL;
    if (a->finished || a->opts.mode == SL_ASM_KEEP) {
        a->finished = 1;
        return SL_OK;
    }
    a->finished = 1;
    /* What is left comes out by start. */
    size_t n = 0;
    if (a->opts.mode == SL_ASM_STREAM) {
        for (uint32_t r = 0; r < a->nslots; r++)
            if (!(a->slots[r].flags & (F_FREE | F_HANDED | F_QUEUED)) && sl_asm_push_stack(a, &n, r) != SL_OK)
                return SL_ENOMEM;
        if (sort_refs(a, a->stack, n) != SL_OK) return SL_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if (sl_asm_push_queue(a, a->stack[i]) != SL_OK) return SL_ENOMEM;
            a->slots[a->stack[i]].flags |= F_QUEUED;
        }
        return SL_OK;
    }
    for (uint32_t t = 0; t < a->ntraces; t++) {
        trace_ent *e = &a->traces[t];
        if (e->live && !e->queued && e->nspans > 0) {
            if (sl_asm_push_stack(a, &n, t) != SL_OK) return SL_ENOMEM;
        }
    }
    if (sl_asm_grow((void **)&a->keys, &a->keys_cap, n + 1, sizeof *a->keys) != SL_OK) return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        a->keys[i].start = a->traces[a->stack[i]].start;
        a->keys[i].id = a->traces[a->stack[i]].id;
        a->keys[i].ref = a->stack[i];
    }
    qsort(a->keys, n, sizeof *a->keys, by_key);
    for (size_t i = 0; i < n; i++) {
        if (sl_asm_push_queue(a, a->keys[i].ref) != SL_OK) return SL_ENOMEM;
        a->traces[a->keys[i].ref].queued = 1;
    }
    return SL_OK;
}

size_t sl_assembler_ready(const sl_assembler *a)
{
    return a ? a->qlen : 0;
}

/* The span handed out last goes (unless it is a ghost now), and its parent
 * with it when that was the parent's last pending child. */
static void drop_handed_span(sl_assembler *a)
{
    uint32_t r = a->handed;
    if (r == NONE) return;
    a->handed = NONE;
    uint32_t p = a->slots[r].parent;
    if (a->slots[r].m.s.pending == 0) sl_asm_release(a, r);
    if (p != NONE && (a->slots[p].flags & F_HANDED) && a->slots[p].m.s.pending == 0) sl_asm_release(a, p);
}

int sl_assembler_next(sl_assembler *a, sl_aspan *out)
{
    if (!a || !out || a->opts.mode != SL_ASM_STREAM) return SL_EINVAL;
    drop_handed_span(a);
    if (a->qlen == 0) return a->finished ? SL_EOF : SL_EAGAIN;
    uint32_t r = a->queue[a->qhead++];
    if (--a->qlen == 0) a->qhead = 0;
    slot *s = &a->slots[r];
    s->flags = (uint16_t)((s->flags | F_HANDED) & ~F_QUEUED);
    sl_asm_wait_remove(a, r);
    uint32_t p = s->parent;
    if (p != NONE) a->slots[p].m.s.pending--;
    a->handed = r;
    sl_assembler_get(a, r, out);
    if (!(out->flags & SL_ASPAN_STARTED)) a->st.ends_only++;
    out->parent_released = p != NONE && (a->slots[p].flags & F_HANDED) && a->slots[p].m.s.pending == 0;
    return SL_OK;
}

static void drop_handed_trace(sl_assembler *a)
{
    uint32_t t = a->handed_trace;
    if (t == NONE) return;
    while (a->traces[t].head != NONE) sl_asm_release(a, a->traces[t].head);
    a->handed_trace = NONE;
    sl_asm_trace_retire(a, t, 1);
}

int sl_assembler_next_trace(sl_assembler *a, sl_atrace *out)
{
    if (!a || !out || a->opts.mode != SL_ASM_TRACES) return SL_EINVAL;
    drop_handed_trace(a);
    for (;;) {
        if (a->qlen == 0) return a->finished ? SL_EOF : SL_EAGAIN;
        uint32_t t = a->queue[a->qhead++];
        if (--a->qlen == 0) a->qhead = 0;
        trace_ent *e = &a->traces[t];
        e->queued = 0;
        if (!e->live) continue;
        if (e->nspans == 0) {
            sl_asm_trace_release(a, t);
            continue;
        }
        if (!a->finished && !sl_asm_trace_complete(a, t)) continue;
        sl_asm_trace_retire(a, t, 0);
        a->handed_trace = t;
        size_t n = 0;
        uint32_t r = e->head;
        do {
            const slot *s = &a->slots[r];
            if ((s->flags & SL_ASPAN_STARTED) && (s->parent == NONE || a->slots[s->parent].trace != t)) {
                if (sl_asm_grow((void **)&a->troots, &a->troots_cap, n + 1, sizeof *a->troots) != SL_OK)
                    return SL_ENOMEM;
                a->troots[n++] = r;
            }
            r = s->m.t.next;
        } while (r != e->head);
        if (sort_refs(a, a->troots, n) != SL_OK) return SL_ENOMEM;
        sl_assembler_trace(a, t, out);
        out->roots = a->troots;
        out->nroots = n;
        return SL_OK;
    }
}

/* ===== ACCESSORS ===== */

static int kept(const sl_assembler *a, uint32_t r)
{
    return r < a->nslots && !(a->slots[r].flags & F_FREE);
}

int sl_assembler_get(const sl_assembler *a, uint32_t r, sl_aspan *out)
{
    if (!a || !out || !kept(a, r)) return SL_EINVAL;
    const slot *s = &a->slots[r];
    memset(out, 0, sizeof *out);
    out->ref = r;
    out->flags = s->flags & PUBLIC_FLAGS;
    out->id = s->id;
    if (s->flags & SL_ASPAN_STARTED) {
        if (s->trace != NONE) out->trace = a->traces[s->trace].id;
        out->start = s->start;
        out->lane = s->lane;
        out->line = s->line;
        if (a->opts.mode == SL_ASM_KEEP) out->name = sl_strtab_get(&a->names, s->name, &out->name_len);
        else out->name = sl_blob_at(s->blob, s->name, &out->name_len);
    }
    out->parent = s->parent_id;
    if (s->flags & SL_ASPAN_ENDED) {
        out->finish = s->finish;
        size_t pos = 0;
        static const char *const names[] = { "open", "ok", "error", "abandoned" };
        static const size_t lens[] = { 4, 2, 5, 9 };
        if (s->status == ST_OTHER) {
            if (!sl_blob_next(s->blob, &pos, B_STATUS, &out->status, &out->status_len)) out->status = "";
        } else {
            out->status = names[s->status];
            out->status_len = lens[s->status];
        }
        pos = 0;
        if (!(s->flags & F_HAS_ERROR) || !sl_blob_next(s->blob, &pos, B_ERROR, &out->error, &out->error_len))
            out->error = NULL;
    } else {
        out->status = "open";
        out->status_len = 4;
    }
    out->self = ((s->flags & SL_ASPAN_STARTED) && (s->flags & SL_ASPAN_ENDED)) ? s->self : -1;
    out->depth = s->depth;
    out->nchildren = s->nchildren;
    out->nevents = s->nevents;
    out->name_id = a->opts.mode == SL_ASM_KEEP && (s->flags & SL_ASPAN_STARTED) ? s->name : SL_NO_SPAN;
    out->parent_ref = s->parent;
    out->trace_ref = s->trace;
    out->pending_children = a->opts.mode == SL_ASM_STREAM ? s->m.s.pending : 0;
    return SL_OK;
}

uint32_t sl_assembler_find(const sl_assembler *a, const sl_id *id)
{
    if (!a || !id) return NONE;
    keysrc src = sl_asm_src(a);
    return sl_reftab_find(&a->by_id, &src, id);
}

size_t sl_assembler_children(sl_assembler *a, uint32_t r, uint32_t *out, size_t cap)
{
    if (!a || !kept(a, r)) return 0;
    const slot *s = &a->slots[r];
    size_t n = 0;
    int same_trace = a->opts.mode == SL_ASM_TRACES;
    if (sl_asm_grow((void **)&a->stack, &a->stack_cap, (size_t)s->nchildren + 1, sizeof *a->stack) != SL_OK)
        return 0;
    for (uint32_t c = s->first_child; c != NONE; c = a->slots[c].next_sib)
        if (!same_trace || a->slots[c].trace == s->trace) a->stack[n++] = c;
    if (sort_refs(a, a->stack, n) != SL_OK) return 0;
    if (out) memcpy(out, a->stack, (n < cap ? n : cap) * sizeof *out);
    return n;
}

size_t sl_assembler_roots(sl_assembler *a, const uint32_t **out)
{
    if (!a || a->opts.mode != SL_ASM_KEEP) {
        if (out) *out = NULL;
        return 0;
    }
    if (a->roots_dirty) {
        size_t m = 0;
        for (size_t i = 0; i < a->nroots; i++) {
            uint32_t r = a->roots[i];
            if (a->slots[r].parent == NONE) a->roots[m++] = r;
            else a->slots[r].flags &= (uint16_t)~F_ROOT_LISTED;
        }
        a->nroots = m;
        a->roots_dirty = 0;
    }
    if (out) *out = a->roots;
    return a->nroots;
}

int sl_assembler_attrs_next(const sl_assembler *a, uint32_t r, size_t *pos, const char **json, size_t *len)
{
    if (!a || !kept(a, r) || !pos) return 0;
    return sl_blob_next(a->slots[r].blob, pos, B_ATTRS, json, len);
}

int sl_assembler_event_next(const sl_assembler *a, uint32_t r, size_t *pos, sl_aevent *out)
{
    const char *p;
    size_t len;
    if (!a || !kept(a, r) || !pos || !sl_blob_next(a->slots[r].blob, pos, B_EVENT, &p, &len)) return 0;
    uint32_t nlen;
    memcpy(&out->ts, p, 8);
    memcpy(&nlen, p + 8, 4);
    out->name = p + 12;
    out->name_len = nlen;
    out->attrs_len = len - 12 - nlen;
    out->attrs_json = out->attrs_len ? p + 12 + nlen : NULL;
    return 1;
}

int sl_assembler_raw_next(const sl_assembler *a, uint32_t r, size_t *pos, const char **line, size_t *len)
{
    if (!a || !kept(a, r) || !pos) return 0;
    return sl_blob_next(a->slots[r].blob, pos, B_RAW, line, len);
}

int sl_assembler_trace(const sl_assembler *a, uint32_t t, sl_atrace *out)
{
    if (!a || !out) return SL_EINVAL;
    if (t >= a->ntraces) return SL_EOF;
    const trace_ent *e = &a->traces[t];
    if (!e->live && t != a->handed_trace) return SL_EINVAL;
    memset(out, 0, sizeof *out);
    out->ref = t;
    out->id = e->id;
    out->nspans = e->nspans;
    out->nopen = e->nopen;
    out->nerrors = e->nerrors;
    out->nabandoned = e->nabandoned;
    out->start = e->start;
    out->finish = e->finish;
    return SL_OK;
}

const char *sl_assembler_meta(const sl_assembler *a, size_t *len)
{
    *len = a && a->have_meta ? a->meta.len : 0;
    return a && a->have_meta ? a->meta.ptr : NULL;
}

size_t sl_assembler_pids(const sl_assembler *a, const int64_t **pids, int *more)
{
    *pids = a->pids;
    if (more) *more = a->more_pids;
    return a->npids;
}

void sl_assembler_stats(const sl_assembler *a, sl_asm_stats *out)
{
    *out = a->st;
}

