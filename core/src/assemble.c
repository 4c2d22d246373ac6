/*
 * assemble.c: records -> spans (sl_assembler_*, spanline.h), the one span
 * assembler: streaming (filter, report), whole traces (tree, exporters)
 * and keep-everything (the viewer), in any arrival order.
 *
 * Key idea: one engine keeps spans in slots (assemble_internal.h) linked by
 * refs; the modes differ only in when a span is handed out and forgotten.
 * A child links under its parent when both are known; an orphan waits in a
 * table keyed by its parent id and is re-parented when that parent starts
 * (depths and inherited traces of its subtree follow, iteratively). A link
 * that would close a cycle is refused. In STREAM mode a parent keeps its
 * children's intervals (they are forgotten before it ends) for self time,
 * and stays as a ghost while a child of it is not handed out yet.
 */
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

keysrc sl_asm_src(const sl_assembler *a)
{
    keysrc k = { a->slots, a->traces };
    return k;
}

int sl_asm_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return SL_OK;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    void *np = realloc(*p, n * size);
    if (!np) return SL_ENOMEM;
    *p = np;
    *cap = n;
    return SL_OK;
}

/* ===== SLOTS ===== */

/* Streaming forgets a span per span it reads: its blob and kid list go
 * back to a small pool instead of free() (unless they grew big). */
static char *blob_entry(sl_assembler *a, uint32_t r, int kind, size_t len)
{
    slot *s = &a->slots[r];
    if (!s->blob && a->nblob_pool > 0) s->blob = a->blob_pool[--a->nblob_pool];
    return sl_blob_entry(&s->blob, kind, len);
}

static void pool_blob(sl_assembler *a, blob *b)
{
    if (b && b->cap <= 4096 && a->nblob_pool < 64) {
        b->len = 0;
        a->blob_pool[a->nblob_pool++] = b;
    } else {
        free(b);
    }
}

static void pool_kids(sl_assembler *a, kidlist *k)
{
    if (k && k->cap <= 256 && a->nkid_pool < 64) {
        k->n = 0;
        a->kid_pool[a->nkid_pool++] = k;
    } else {
        free(k);
    }
}

/* A new span with this id; cell: its empty by_id cell (sl_reftab_cell
 * after sl_reftab_reserve). */
static uint32_t new_slot(sl_assembler *a, const sl_id *id, uint32_t *cell)
{
    uint32_t r;
    if (a->free_head != NONE) {
        r = a->free_head;
        a->free_head = a->slots[r].wait_next;
    } else {
        if (a->nslots == a->cap) {
            size_t cap = a->cap;
            if (a->nslots >= NONE - 1 ||
                sl_asm_grow((void **)&a->slots, &cap, (size_t)a->nslots + 1, sizeof *a->slots) != SL_OK)
                return NONE;
            a->cap = (uint32_t)cap;
        }
        r = a->nslots++;
    }
    slot *s = &a->slots[r];
    memset(s, 0, sizeof *s);
    s->id = *id;
    s->trace = s->parent = s->first_child = s->next_sib = s->prev_sib = s->wait_next = NONE;
    s->name = NONE;
    keysrc src = sl_asm_src(a);
    sl_reftab_fill(&a->by_id, cell, r);
    if (a->tails_on && sl_reftab_put(&a->by_tail, &src, r) != SL_OK) {
        sl_reftab_remove(&a->by_id, &src, r);
        s->flags = F_FREE;
        s->wait_next = a->free_head;
        a->free_head = r;
        return NONE;
    }
    a->st.spans++;
    a->st.open++;
    return r;
}

/* The first W3C (16-hex) parent: index every kept span by its id's tail. */
static int tails_on(sl_assembler *a)
{
    if (a->tails_on) return SL_OK;
    keysrc src = sl_asm_src(a);
    for (uint32_t r = 0; r < a->nslots; r++) {
        if (a->slots[r].flags & F_FREE) continue;
        if (sl_reftab_put(&a->by_tail, &src, r) != SL_OK) return SL_ENOMEM;
    }
    a->tails_on = 1;
    return SL_OK;
}

/* The waiting list of orphans whose parent id is s's parent id. */
static void wait_unlink(sl_assembler *a, uint32_t r)
{
    slot *s = &a->slots[r];
    keysrc src = sl_asm_src(a);
    uint32_t head = sl_reftab_find(&a->waiting, &src, &s->parent_id);
    if (head == r) {
        if (s->wait_next == NONE) sl_reftab_remove(&a->waiting, &src, r);
        else sl_reftab_replace(&a->waiting, &src, r, s->wait_next);
    } else {
        for (uint32_t x = head; x != NONE; x = a->slots[x].wait_next) {
            if (a->slots[x].wait_next == r) {
                a->slots[x].wait_next = s->wait_next;
                break;
            }
        }
    }
    s->wait_next = NONE;
    sl_asm_trace_count(a, r, -1);
    s->flags &= (uint16_t)~F_WAITING;
    sl_asm_trace_count(a, r, 1);
    sl_asm_maybe_queue(a, s->trace);
}

void sl_asm_wait_remove(sl_assembler *a, uint32_t r)
{
    if (a->slots[r].flags & F_WAITING) wait_unlink(a, r);
}

static int wait_add(sl_assembler *a, uint32_t r)
{
    slot *s = &a->slots[r];
    keysrc src = sl_asm_src(a);
    uint32_t head = sl_reftab_find(&a->waiting, &src, &s->parent_id);
    if (head == NONE) {
        if (sl_reftab_put(&a->waiting, &src, r) != SL_OK) return SL_ENOMEM;
    } else {
        s->wait_next = a->slots[head].wait_next;
        a->slots[head].wait_next = r;
    }
    sl_asm_trace_count(a, r, -1);
    s->flags |= F_WAITING;
    sl_asm_trace_count(a, r, 1);
    return SL_OK;
}

static void unlink_child(sl_assembler *a, uint32_t r)
{
    slot *s = &a->slots[r];
    if (s->parent == NONE) return;
    slot *p = &a->slots[s->parent];
    if (s->prev_sib != NONE) a->slots[s->prev_sib].next_sib = s->next_sib;
    else p->first_child = s->next_sib;
    if (s->next_sib != NONE) a->slots[s->next_sib].prev_sib = s->prev_sib;
    p->nchildren--;
    s->parent = s->next_sib = s->prev_sib = NONE;
}

static void count_status(sl_assembler *a, const slot *s, int delta)
{
    if (s->status == ST_ERROR) a->st.errors += (uint64_t)(int64_t)delta;
    if (s->status == ST_ABANDONED) a->st.abandoned += (uint64_t)(int64_t)delta;
}

/* Forgets a span: out of every table and list, its children detached. */
void sl_asm_release(sl_assembler *a, uint32_t r)
{
    slot *s = &a->slots[r];
    unlink_child(a, r);
    for (uint32_t c = s->first_child; c != NONE;) {
        uint32_t next = a->slots[c].next_sib;
        a->slots[c].parent = a->slots[c].next_sib = a->slots[c].prev_sib = NONE;
        c = next;
    }
    s->first_child = NONE;
    s->nchildren = 0;
    sl_asm_wait_remove(a, r);
    sl_asm_set_trace(a, r, NONE);
    keysrc src = sl_asm_src(a);
    sl_reftab_remove(&a->by_id, &src, r);
    if (a->tails_on) sl_reftab_remove(&a->by_tail, &src, r);
    a->st.spans--;
    if (!(s->flags & SL_ASPAN_ENDED)) a->st.open--;
    count_status(a, s, -1);
    pool_blob(a, s->blob);
    if (a->opts.mode == SL_ASM_STREAM) pool_kids(a, s->m.s.kids);
    s->blob = NULL;
    s->flags = F_FREE;
    s->wait_next = a->free_head;
    a->free_head = r;
}

/* ===== SELF TIME ===== */

static int by_ival_start(const void *x, const void *y)
{
    const kid *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Duration minus the union of n intervals (open ones end at the span's
 * end) clipped to the span; iv is reordered. */
static int64_t self_of(const slot *s, kid *iv, size_t n)
{
    uint64_t lo = s->start, hi = s->finish;
    if (hi < lo) return (int64_t)(hi - lo);
    size_t m = 0;
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t cs = iv[i].start, cf = iv[i].finish;
        if (cf == NO_END || cf > hi) cf = hi;
        if (cs < lo) cs = lo;
        if (cf > cs) {
            if (m > 0 && cs < iv[m - 1].start) sorted = 0;
            iv[m].start = cs;
            iv[m].finish = cf;
            m++;
        }
    }
    if (!sorted) qsort(iv, m, sizeof *iv, by_ival_start);
    uint64_t covered = 0, cur_s = 0, cur_f = 0;
    int have = 0;
    for (size_t i = 0; i < m; i++) {
        if (have && iv[i].start <= cur_f) {
            if (iv[i].finish > cur_f) cur_f = iv[i].finish;
        } else {
            if (have) covered += cur_f - cur_s;
            cur_s = iv[i].start;
            cur_f = iv[i].finish;
            have = 1;
        }
    }
    if (have) covered += cur_f - cur_s;
    return (int64_t)((hi - lo) - covered);
}

static int compute_self(sl_assembler *a, uint32_t r)
{
    slot *s = &a->slots[r];
    if (!(s->flags & SL_ASPAN_STARTED) || !(s->flags & SL_ASPAN_ENDED)) return SL_OK;
    size_t n = 0;
    if (a->opts.mode == SL_ASM_STREAM) {
        n = s->m.s.kids ? s->m.s.kids->n : 0;
        if (sl_asm_grow((void **)&a->ivals, &a->ivals_cap, n + 1, sizeof *a->ivals) != SL_OK) return SL_ENOMEM;
        if (n) memcpy(a->ivals, s->m.s.kids->k, n * sizeof *a->ivals);
    } else {
        if (sl_asm_grow((void **)&a->ivals, &a->ivals_cap, (size_t)s->nchildren + 1, sizeof *a->ivals) != SL_OK)
            return SL_ENOMEM;
        for (uint32_t c = s->first_child; c != NONE; c = a->slots[c].next_sib) {
            const slot *k = &a->slots[c];
            if (!(k->flags & SL_ASPAN_STARTED)) continue;
            a->ivals[n].start = k->start;
            a->ivals[n].finish = (k->flags & SL_ASPAN_ENDED) ? k->finish : NO_END;
            n++;
        }
    }
    s->self = self_of(s, a->ivals, n);
    return SL_OK;
}

/* ===== LINKS ===== */

int sl_asm_push_stack(sl_assembler *a, size_t *n, uint32_t r)
{
    if (sl_asm_grow((void **)&a->stack, &a->stack_cap, *n + 1, sizeof *a->stack) != SL_OK) return SL_ENOMEM;
    a->stack[(*n)++] = r;
    return SL_OK;
}

/* Depths (and traces, for spans without one of their own) of r's subtree
 * below r, without recursion. */
static int fix_subtree(sl_assembler *a, uint32_t r)
{
    size_t n = 0;
    if (a->slots[r].first_child == NONE) return SL_OK;
    if (sl_asm_push_stack(a, &n, r) != SL_OK) return SL_ENOMEM;
    while (n > 0) {
        uint32_t p = a->stack[--n];
        for (uint32_t c = a->slots[p].first_child; c != NONE; c = a->slots[c].next_sib) {
            slot *k = &a->slots[c];
            k->depth = a->slots[p].depth + 1;
            if (!(k->flags & F_OWN_TRACE) && (k->flags & SL_ASPAN_STARTED)) sl_asm_set_trace(a, c, a->slots[p].trace);
            if (k->first_child != NONE && sl_asm_push_stack(a, &n, c) != SL_OK) return SL_ENOMEM;
        }
    }
    return SL_OK;
}

/* Is x r itself or an ancestor of r? */
static int is_ancestor(const sl_assembler *a, uint32_t x, uint32_t r)
{
    for (; r != NONE; r = a->slots[r].parent)
        if (r == x) return 1;
    return 0;
}

static int kid_append(sl_assembler *a, slot *p, uint64_t start, uint64_t finish, uint32_t *slot_out)
{
    if (!p->m.s.kids && a->nkid_pool > 0) p->m.s.kids = a->kid_pool[--a->nkid_pool];
    kidlist *k = p->m.s.kids;
    if (!k || k->n == k->cap) {
        uint32_t cap = k ? k->cap * 2 : 4;
        kidlist *nk = realloc(k, sizeof *nk + (size_t)cap * sizeof nk->k[0]);
        if (!nk) return SL_ENOMEM;
        if (!k) nk->n = 0;
        nk->cap = cap;
        p->m.s.kids = k = nk;
    }
    k->k[k->n].start = start;
    k->k[k->n].finish = finish;
    *slot_out = k->n++;
    return SL_OK;
}

/* Links child c under p; 0 (c marked and counted) when that would close a
 * parent cycle, -1 when out of memory. */
static int link(sl_assembler *a, uint32_t p, uint32_t c)
{
    slot *k = &a->slots[c];
    if (c == p || (k->first_child != NONE && is_ancestor(a, c, p))) {
        a->st.cycles++;
        k->flags |= SL_ASPAN_CYCLE | SL_ASPAN_ORPHAN;
        return 0;
    }
    if (a->opts.mode == SL_ASM_STREAM) {
        uint64_t fin = (k->flags & SL_ASPAN_ENDED) ? k->finish : NO_END;
        if (kid_append(a, &a->slots[p], k->start, fin, &k->m.s.slot_in_parent) != SL_OK) return -1;
        a->slots[p].m.s.pending++;
    }
    k->parent = p;
    k->flags &= (uint16_t)~SL_ASPAN_ORPHAN;
    slot *ps = &a->slots[p];
    k->prev_sib = NONE;
    k->next_sib = ps->first_child;
    if (ps->first_child != NONE) a->slots[ps->first_child].prev_sib = c;
    ps->first_child = c;
    ps->nchildren++;
    k->depth = ps->depth + 1;
    if (!(k->flags & F_OWN_TRACE)) sl_asm_set_trace(a, c, ps->trace);
    if (fix_subtree(a, c) != SL_OK) return -1;
    if ((ps->flags & SL_ASPAN_ENDED) && !(ps->flags & F_HANDED) && compute_self(a, p) != SL_OK) return -1;
    return 1;
}

static void add_root(sl_assembler *a, uint32_t r)
{
    if (a->opts.mode != SL_ASM_KEEP || (a->slots[r].flags & F_ROOT_LISTED)) return;
    if (sl_asm_grow((void **)&a->roots, &a->rcap, a->nroots + 1, sizeof *a->roots) != SL_OK) return;
    a->roots[a->nroots++] = r;
    a->slots[r].flags |= F_ROOT_LISTED;
}

/* ===== RECORDS ===== */

static int put_text(sl_assembler *a, uint32_t r, int kind, const char *p, size_t n)
{
    char *d = blob_entry(a, r, kind, n);
    if (!d) return SL_ENOMEM;
    if (n) memcpy(d, p, n);
    return SL_OK;
}

static int on_start(sl_assembler *a, uint32_t r, const sl_record *rec)
{
    slot *s = &a->slots[r];
    sl_asm_trace_count(a, r, -1);
    s->flags |= SL_ASPAN_STARTED;
    s->start = rec->ts;
    if (a->st.min_start == 0 || rec->ts < a->st.min_start) a->st.min_start = rec->ts;
    s->lane = rec->lane > INT32_MAX ? INT32_MAX : rec->lane < INT32_MIN ? INT32_MIN : (int32_t)rec->lane;
    s->line = rec->line;
    sl_asm_trace_count(a, r, 1);
    const char *name = rec->name ? rec->name : "";
    if (a->opts.mode == SL_ASM_KEEP) {
        s->name = sl_strtab_intern(&a->names, name, rec->name_len);
        if (s->name == NONE) return SL_ENOMEM;
    } else {
        size_t off = sl_blob_offset(s->blob);
        if (put_text(a, r, B_NAME, name, rec->name_len) != SL_OK) return SL_ENOMEM;
        s = &a->slots[r];
        s->name = (uint32_t)off;
    }
    uint32_t p = NONE;
    if (rec->has_parent) {
        if (rec->parent_short) {
            if (tails_on(a) != SL_OK) return SL_ENOMEM;
            keysrc src = sl_asm_src(a);
            p = sl_reftab_find(&a->by_tail, &src, &rec->parent);
        } else {
            keysrc src = sl_asm_src(a);
            p = sl_reftab_find(&a->by_id, &src, &rec->parent);
        }
    }
    if (rec->has_trace) {
        s->flags |= F_OWN_TRACE;
        /* Most spans share their parent's trace: no lookup by id then. */
        uint32_t pt = p != NONE ? a->slots[p].trace : NONE;
        if (pt != NONE && a->traces[pt].live && memcmp(a->traces[pt].id.bytes, rec->trace.bytes, 16) == 0)
            sl_asm_set_trace(a, r, pt);
        else if (sl_asm_set_trace_id(a, r, &rec->trace) != SL_OK)
            return SL_ENOMEM;
        s = &a->slots[r];
    }
    int linked = 0;
    if (rec->has_parent) {
        s->flags |= SL_ASPAN_HAS_PARENT | (rec->parent_short ? SL_ASPAN_REMOTE_PARENT : 0);
        s->parent_id = rec->parent;
        if (p != NONE) {
            int rc = link(a, p, r);
            if (rc < 0) return SL_ENOMEM;
            linked = rc;
        } else if (p == NONE && !rec->parent_short) {
            if (wait_add(a, r) != SL_OK) return SL_ENOMEM;
        }
        s = &a->slots[r];
        if (!linked) {
            s->flags |= SL_ASPAN_ORPHAN;
            if (!(s->flags & F_OWN_TRACE) &&
                sl_asm_set_trace_id(a, r, rec->parent_short ? &s->id : &rec->parent) != SL_OK)
                return SL_ENOMEM;
            add_root(a, r);
        }
    } else {
        if (!(s->flags & F_OWN_TRACE) && sl_asm_set_trace_id(a, r, &s->id) != SL_OK) return SL_ENOMEM;
        add_root(a, r);
    }
    /* Children that arrived first: re-parent them under this span. */
    keysrc src = sl_asm_src(a);
    uint32_t w = a->waiting.count ? sl_reftab_find(&a->waiting, &src, &a->slots[r].id) : NONE;
    if (w != NONE) {
        sl_reftab_remove(&a->waiting, &src, w);
        while (w != NONE) {
            slot *c = &a->slots[w];
            uint32_t next = c->wait_next;
            c->wait_next = NONE;
            sl_asm_trace_count(a, w, -1);
            c->flags &= (uint16_t)~F_WAITING;
            sl_asm_trace_count(a, w, 1);
            if (link(a, r, w) < 0) return SL_ENOMEM;
            if (a->slots[w].parent == r) a->roots_dirty = 1;
            sl_asm_maybe_queue(a, a->slots[w].trace);
            w = next;
        }
    }
    if (a->slots[r].flags & SL_ASPAN_ENDED) return compute_self(a, r);
    return SL_OK;
}

static uint8_t status_code(const char *p, size_t n)
{
    if (!p) return ST_OK;
    if (n == 2 && memcmp(p, "ok", 2) == 0) return ST_OK;
    if (n == 5 && memcmp(p, "error", 5) == 0) return ST_ERROR;
    if (n == 9 && memcmp(p, "abandoned", 9) == 0) return ST_ABANDONED;
    return ST_OTHER;
}

static int on_end(sl_assembler *a, uint32_t r, const sl_record *rec)
{
    slot *s = &a->slots[r];
    uint8_t st = status_code(rec->status, rec->status_len);
    if (st == ST_OTHER && put_text(a, r, B_STATUS, rec->status, rec->status_len) != SL_OK) return SL_ENOMEM;
    if (rec->error) {
        if (put_text(a, r, B_ERROR, rec->error, rec->error_len) != SL_OK) return SL_ENOMEM;
        a->slots[r].flags |= F_HAS_ERROR;
    }
    s = &a->slots[r];
    if (s->trace != NONE) {
        /* its trace's counts, as sl_asm_trace_count would change them */
        trace_ent *e = &a->traces[s->trace];
        e->nopen--;
        if (s->flags & SL_ASPAN_STARTED) e->nunfinished--;
        if (st == ST_ERROR) e->nerrors++;
        if (st == ST_ABANDONED) e->nabandoned++;
        if ((s->flags & SL_ASPAN_STARTED) && rec->ts > e->finish) e->finish = rec->ts;
    }
    s->flags |= SL_ASPAN_ENDED;
    s->finish = rec->ts;
    s->status = st;
    a->st.open--;
    count_status(a, s, 1);
    if (compute_self(a, r) != SL_OK) return SL_ENOMEM;
    uint32_t p = s->parent;
    if (p != NONE && a->opts.mode == SL_ASM_STREAM) {
        kidlist *k = a->slots[p].m.s.kids;
        if (k && s->m.s.slot_in_parent < k->n) k->k[s->m.s.slot_in_parent].finish = rec->ts;
    }
    if (p != NONE && (a->slots[p].flags & SL_ASPAN_ENDED) && !(a->slots[p].flags & F_HANDED) &&
        compute_self(a, p) != SL_OK)
        return SL_ENOMEM;
    if (a->opts.mode == SL_ASM_STREAM) {
        if (sl_asm_push_queue(a, r) != SL_OK) return SL_ENOMEM;
        a->slots[r].flags |= F_QUEUED;
    }
    sl_asm_maybe_queue(a, a->slots[r].trace);
    return SL_OK;
}

static int keep_raw(sl_assembler *a, uint32_t r, const sl_record *rec)
{
    const char *raw = rec->raw;
    size_t len = rec->raw_len;
    if (!rec->raw_spanline || !raw) {
        a->enc.len = 0;
        if (sl_record_to_jsonl(rec, &a->enc) != SL_OK) return SL_ENOMEM;
        raw = a->enc.ptr;
        len = a->enc.len - 1;
    }
    char *d = blob_entry(a, r, B_RAW, len + 1);
    if (!d) return SL_ENOMEM;
    memcpy(d, raw, len);
    d[len] = '\n';
    return SL_OK;
}

static int keep_event(sl_assembler *a, uint32_t r, const sl_record *rec)
{
    uint32_t nlen = (uint32_t)rec->name_len;
    size_t alen = rec->attrs_json ? rec->attrs_len : 0;
    char *d = blob_entry(a, r, B_EVENT, 12 + (size_t)nlen + alen);
    if (!d) return SL_ENOMEM;
    a->slots[r].nevents++;
    memcpy(d, &rec->ts, 8);
    memcpy(d + 8, &nlen, 4);
    if (nlen) memcpy(d + 12, rec->name, nlen);
    if (alen) memcpy(d + 12 + nlen, rec->attrs_json, alen);
    return SL_OK;
}

static int keep_attrs(sl_assembler *a, uint32_t r, const sl_record *rec)
{
    if (!rec->attrs_json || a->opts.skip_attrs) return SL_OK;
    return put_text(a, r, B_ATTRS, rec->attrs_json, rec->attrs_len);
}

static int keep_meta(sl_assembler *a, const sl_record *rec)
{
    if (a->have_meta) return SL_OK;
    a->meta.len = 0;
    if (rec->raw_spanline && rec->raw) {
        if (sl_buf_reserve(&a->meta, rec->raw_len) != SL_OK) return SL_ENOMEM;
        memcpy(a->meta.ptr, rec->raw, rec->raw_len);
        a->meta.len = rec->raw_len;
    } else {
        if (sl_record_to_jsonl(rec, &a->meta) != SL_OK) return SL_ENOMEM;
        a->meta.len--;  /* without its '\n' */
    }
    a->have_meta = 1;
    return SL_OK;
}

static void note_ts(sl_assembler *a, uint64_t ts)
{
    if (!ts) return;
    if (a->st.min_ts == 0 || ts < a->st.min_ts) a->st.min_ts = ts;
    if (ts > a->st.max_ts) a->st.max_ts = ts;
}

#define MAX_PIDS 1000

static void note_pid(sl_assembler *a, int64_t pid)
{
    for (size_t i = 0; i < a->npids; i++)
        if (a->pids[i] == pid) return;
    if (a->npids >= MAX_PIDS ||
        sl_asm_grow((void **)&a->pids, &a->pids_cap, a->npids + 1, sizeof *a->pids) != SL_OK) {
        a->more_pids = 1;
        return;
    }
    a->pids[a->npids++] = pid;
}

/* With select_pid: does this record belong to the chosen process? */
static int chosen(sl_assembler *a, const sl_record *rec, uint32_t known)
{
    if (!a->opts.select_pid) return 1;
    if (rec->type == SL_REC_META) return rec->pid == a->opts.pid;
    if (rec->type == SL_REC_START) return a->have_cur_pid && a->cur_pid == a->opts.pid;
    return known != NONE;
}

int sl_assembler_add(sl_assembler *a, const sl_record *rec)
{
    if (!a || !rec) return SL_EINVAL;
    if (a->finished && a->opts.mode != SL_ASM_KEEP) return SL_ESTATE;
    a->last = NONE;
    if (rec->type == SL_REC_META) {
        a->cur_pid = rec->pid;
        a->have_cur_pid = 1;
        note_pid(a, rec->pid);
        if (!chosen(a, rec, NONE)) return SL_OK;
        a->st.records++;
        a->st.metas++;
        note_ts(a, rec->ts);
        return keep_meta(a, rec);
    }
    keysrc src = sl_asm_src(a);
    if (sl_reftab_reserve(&a->by_id, &src) != SL_OK) return SL_ENOMEM;
    uint32_t *cell = sl_reftab_cell(&a->by_id, &src, &rec->id);
    uint32_t r = *cell;
    if (!chosen(a, rec, r)) return SL_OK;
    a->st.records++;
    note_ts(a, rec->ts);
    if (r != NONE && (a->slots[r].flags & F_HANDED)) {
        /* A ghost was handed out already: its later records change nothing
         * the consumer can still see. */
        if (rec->type == SL_REC_START || rec->type == SL_REC_END) a->st.duplicates++;
        return SL_OK;
    }
    if (r == NONE) {
        r = new_slot(a, &rec->id, cell);
        if (r == NONE) return SL_ENOMEM;
        /* Until its start says otherwise, a span is its own trace. */
        if (rec->type != SL_REC_START && sl_asm_set_trace_id(a, r, &rec->id) != SL_OK) {
            sl_asm_release(a, r);
            return SL_ENOMEM;
        }
    }
    a->last = r;
    if (a->track && !(a->slots[r].flags & F_CHANGED)) {
        if (sl_asm_grow((void **)&a->changes, &a->changes_cap, a->nchanges + 1, sizeof *a->changes) != SL_OK)
            return SL_ENOMEM;
        a->changes[a->nchanges++] = r;
        a->slots[r].flags |= F_CHANGED;
    }
    if (a->opts.keep_raw && keep_raw(a, r, rec) != SL_OK) return SL_ENOMEM;
    slot *s = &a->slots[r];
    switch (rec->type) {
    case SL_REC_START:
        if (s->flags & SL_ASPAN_STARTED) {
            s->flags |= SL_ASPAN_DUPLICATE;
            a->st.duplicates++;
        } else if (on_start(a, r, rec) != SL_OK) {
            return SL_ENOMEM;
        }
        return keep_attrs(a, r, rec);
    case SL_REC_ATTR:
        return keep_attrs(a, r, rec);
    case SL_REC_EVENT:
        return a->opts.skip_events ? SL_OK : keep_event(a, r, rec);
    case SL_REC_END:
        if (s->flags & SL_ASPAN_ENDED) {
            s->flags |= SL_ASPAN_DUPLICATE;
            a->st.duplicates++;
            return SL_OK;
        }
        return on_end(a, r, rec);
    default:
        return SL_OK;
    }
}

uint32_t sl_assembler_last(const sl_assembler *a)
{
    return a->last;
}

/* ===== LIFE ===== */

sl_assembler *sl_assembler_new(const sl_assembler_opts *opts, sl_error *err)
{
    sl_assembler *a = calloc(1, sizeof *a);
    if (!a) goto nomem;
    if (opts) a->opts = *opts;
    if (a->opts.mode != SL_ASM_STREAM && a->opts.mode != SL_ASM_TRACES && a->opts.mode != SL_ASM_KEEP) {
        free(a);
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = SL_EINVAL;
            strcpy(err->message, "unknown assembler mode");
        }
        return NULL;
    }
    a->free_head = a->tfree_head = a->handed = a->handed_trace = a->last = a->last_trace = NONE;
    if (sl_reftab_init(&a->by_id, KEY_ID) != SL_OK || sl_reftab_init(&a->by_tail, KEY_TAIL) != SL_OK ||
        sl_reftab_init(&a->waiting, KEY_PARENT) != SL_OK || sl_reftab_init(&a->trace_ids, KEY_TRACE) != SL_OK) {
        sl_assembler_free(a);
        goto nomem;
    }
    return a;
nomem:
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = SL_ENOMEM;
        strcpy(err->message, "out of memory");
    }
    return NULL;
}

void sl_assembler_free(sl_assembler *a)
{
    if (!a) return;
    for (uint32_t r = 0; r < a->nslots; r++) {
        slot *s = &a->slots[r];
        if (s->flags & F_FREE) continue;
        free(s->blob);
        if (a->opts.mode == SL_ASM_STREAM) free(s->m.s.kids);
    }
    for (int i = 0; i < a->nblob_pool; i++) free(a->blob_pool[i]);
    for (int i = 0; i < a->nkid_pool; i++) free(a->kid_pool[i]);
    free(a->slots);
    free(a->traces);
    sl_reftab_free(&a->by_id);
    sl_reftab_free(&a->by_tail);
    sl_reftab_free(&a->waiting);
    sl_reftab_free(&a->trace_ids);
    sl_strtab_free(&a->names);
    free(a->queue);
    free(a->roots);
    free(a->stack);
    free(a->keys);
    free(a->ivals);
    free(a->troots);
    free(a->changes);
    free(a->pids);
    free(a->by_start);
    free(a->unstarted);
    free(a->found);
    free(a->name_match);
    sl_buf_free(&a->enc);
    sl_buf_free(&a->meta);
    free(a);
}
