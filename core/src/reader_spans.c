/*
 * reader_spans.c: records -> finished spans in C, for streaming consumers
 * (the CLI's filter and report) that would otherwise build a Lua table per
 * record.
 *
 * Key idea: only open spans live in a hash table keyed by id; a span leaves
 * it when its end record arrives and is handed out once (end order), then
 * recycled. A parent keeps its children's intervals so self time is known
 * at its end. Spans still open at EOF come last, by start time. Children
 * whose parent already ended (or never appeared) are orphans here. A second
 * table keys the open spans by their ids' last 8 bytes, so a W3C parent (16
 * hex digits, design.md §2) links like the Lua assembler links it. Like
 * the Lua assembler, a span that ends while children of its are open stays
 * known as a "ghost" (id, trace, depth, its children's slots) until they
 * end, so a child starting after its parent ended still links to it.
 */
#include <stdlib.h>
#include <string.h>

#include "reader_internal.h"

#define NO_END UINT64_MAX

static uint64_t mix(uint64_t h)
{
    return h ^ (h >> 29);
}

static uint64_t id_hash(const sl_id *id)
{
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    return mix(a ^ (b * 0x9E3779B97F4A7C15ull));
}

/* The W3C span-id part: the id's last 8 bytes. */
static uint64_t tail_hash(const sl_id *id)
{
    uint64_t b;
    memcpy(&b, id->bytes + 8, 8);
    return mix(b * 0x9E3779B97F4A7C15ull);
}

static int id_eq(const sl_id *a, const sl_id *b)
{
    return memcmp(a->bytes, b->bytes, 16) == 0;
}

static int tail_eq(const sl_id *a, const sl_id *b)
{
    return memcmp(a->bytes + 8, b->bytes + 8, 8) == 0;
}

/* An open-addressing table (linear probing) of spans keyed by the whole id
 * or, with tail set, by its last 8 bytes (one span per tail: the newest). */
typedef struct span_table {
    sl_aspan **slots;
    size_t nslots, count;
    int tail;
} span_table;

struct sl_spanner {
    sl_reader *reader;
    int keep_raw;
    int keep_attrs;
    span_table open;         /* open spans by id */
    span_table tails;        /* open spans by the id's last 8 bytes */
    sl_aspan **ready;        /* ended, not yet handed out (FIFO) */
    size_t rhead, rlen, rcap;
    sl_aspan *handed;        /* returned by the last next(): recycled on the next */
    sl_aspan *free_list;
    sl_aspan **tail;         /* at EOF: the open spans by start */
    size_t tail_n, tail_i;
    int at_eof;
    sl_buf meta_raw;
    int have_meta;
    sl_buf enc;             /* re-encoding non-spanline records */
};

/* ===== TABLE ===== */

static uint64_t key_hash(const span_table *t, const sl_id *id)
{
    return t->tail ? tail_hash(id) : id_hash(id);
}

static size_t find_slot(const span_table *t, const sl_id *id)
{
    size_t mask = t->nslots - 1, i = (size_t)key_hash(t, id) & mask;
    if (t->tail) {
        while (t->slots[i] && !tail_eq(&t->slots[i]->id, id)) i = (i + 1) & mask;
    } else {
        while (t->slots[i] && !id_eq(&t->slots[i]->id, id)) i = (i + 1) & mask;
    }
    return i;
}

static sl_aspan *lookup(const span_table *t, const sl_id *id)
{
    return t->slots[find_slot(t, id)];
}

static int table_init(span_table *t, int tail)
{
    t->tail = tail;
    t->nslots = 1024;
    t->count = 0;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    return t->slots ? SL_OK : SL_ENOMEM;
}

static int grow(span_table *t)
{
    size_t n = t->nslots * 2;
    sl_aspan **old = t->slots;
    size_t oldn = t->nslots;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return SL_ENOMEM;
    }
    t->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i]) t->slots[find_slot(t, &old[i]->id)] = old[i];
    free(old);
    return SL_OK;
}

/* Puts a (replacing a span with an equal key: only tails can collide). */
static int table_put(span_table *t, sl_aspan *a)
{
    if ((t->count + 1) * 2 > t->nslots && grow(t) != SL_OK) return SL_ENOMEM;
    size_t i = find_slot(t, &a->id);
    if (!t->slots[i]) t->count++;
    t->slots[i] = a;
    return SL_OK;
}

/* Removes a's key if it maps to a itself. */
static void table_remove(span_table *t, const sl_aspan *a)
{
    size_t mask = t->nslots - 1, i = find_slot(t, &a->id);
    if (t->slots[i] != a) return;
    t->slots[i] = NULL;
    t->count--;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        sl_aspan *e = t->slots[j];
        if (!e) break;
        size_t home = (size_t)key_hash(t, &e->id) & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->slots[i] = e;
            t->slots[j] = NULL;
            i = j;
        }
    }
}

static void table_clear(span_table *t)
{
    memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->count = 0;
}

/* ===== SPANS ===== */

static void reset_span(sl_aspan *a)
{
    sl_buf text = a->text, attrs = a->attrs, raw = a->raw;
    sl_kid *kids = a->kids;
    size_t kcap = a->kcap;
    memset(a, 0, sizeof *a);
    text.len = attrs.len = raw.len = 0;
    a->text = text;
    a->attrs = attrs;
    a->raw = raw;
    a->kids = kids;
    a->kcap = kcap;
    a->self = -1;
}

static void free_span(sl_aspan *a)
{
    sl_buf_free(&a->text);
    sl_buf_free(&a->attrs);
    sl_buf_free(&a->raw);
    free(a->kids);
    free(a);
}

static void recycle(sl_spanner *s, sl_aspan *a)
{
    if (!a) return;
    /* Keep big buffers out of the free list so one huge span does not pin memory. */
    if (a->raw.cap > (1u << 16) || a->attrs.cap > (1u << 16) || a->kcap > 4096) {
        free_span(a);
        return;
    }
    a->next_free = s->free_list;
    s->free_list = a;
}

static sl_aspan *new_span(sl_spanner *s, const sl_id *id)
{
    sl_aspan *a = s->free_list;
    if (a) s->free_list = a->next_free;
    else if (!(a = calloc(1, sizeof *a))) return NULL;
    reset_span(a);
    a->id = *id;
    if (table_put(&s->open, a) != SL_OK) {
        recycle(s, a);
        return NULL;
    }
    if (table_put(&s->tails, a) != SL_OK) {
        table_remove(&s->open, a);
        recycle(s, a);
        return NULL;
    }
    return a;
}

static int put_text(sl_buf *b, const char *p, size_t n, uint32_t *off, uint32_t *len)
{
    if (sl_buf_reserve(b, n) != SL_OK) return SL_ENOMEM;
    memcpy(b->ptr + b->len, p, n);
    *off = (uint32_t)b->len;
    *len = (uint32_t)n;
    b->len += n;
    return SL_OK;
}

static void compute_self(sl_aspan *a)
{
    if (!a->has_start || !a->ended || a->finish < a->start) {
        a->self = -1;
        return;
    }
    uint64_t lo = a->start, hi = a->finish, covered = 0;
    size_t n = 0;
    for (size_t i = 0; i < a->nkids; i++) {
        uint64_t cs = a->kids[i].start, cf = a->kids[i].finish;
        if (cs < lo) cs = lo;
        if (cf > hi) cf = hi;
        if (cf > cs) {
            a->kids[n].start = cs;
            a->kids[n].finish = cf;
            n++;
        }
    }
    /* Insertion sort: children mostly arrive in start order already. */
    for (size_t i = 1; i < n; i++) {
        sl_kid k = a->kids[i];
        size_t j = i;
        while (j > 0 && a->kids[j - 1].start > k.start) {
            a->kids[j] = a->kids[j - 1];
            j--;
        }
        a->kids[j] = k;
    }
    uint64_t cur_s = 0, cur_f = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        if (have && a->kids[i].start <= cur_f) {
            if (a->kids[i].finish > cur_f) cur_f = a->kids[i].finish;
        } else {
            if (have) covered += cur_f - cur_s;
            cur_s = a->kids[i].start;
            cur_f = a->kids[i].finish;
            have = 1;
        }
    }
    if (have) covered += cur_f - cur_s;
    a->nkids = n;
    a->self = (int64_t)((hi - lo) - covered);
}

static int push_ready(sl_spanner *s, sl_aspan *a)
{
    if (s->rhead + s->rlen == s->rcap) {
        if (s->rhead > 0) {
            memmove(s->ready, s->ready + s->rhead, s->rlen * sizeof *s->ready);
            s->rhead = 0;
        } else {
            size_t cap = s->rcap ? s->rcap * 2 : 64;
            sl_aspan **nr = realloc(s->ready, cap * sizeof *nr);
            if (!nr) return SL_ENOMEM;
            s->ready = nr;
            s->rcap = cap;
        }
    }
    s->ready[s->rhead + s->rlen++] = a;
    return SL_OK;
}

static int on_start(sl_spanner *s, sl_aspan *a, const sl_record *rec)
{
    a->has_start = 1;
    a->start = rec->ts;
    a->lane = rec->lane;
    a->line = rec->line;
    if (put_text(&a->text, rec->name, rec->name_len, &a->name_off, &a->name_len) != SL_OK) return SL_ENOMEM;
    a->trace = rec->trace;
    a->has_trace = rec->has_trace;
    if (rec->has_parent) {
        a->has_parent = 1;
        a->parent = rec->parent;
        a->parent_short = rec->parent_short;
        sl_aspan *p = rec->parent_short ? lookup(&s->tails, &rec->parent) : lookup(&s->open, &rec->parent);
        if (p && p != a) {
            a->depth = p->depth + 1;
            if (!a->has_trace) a->trace = p->trace;
            if (p->nkids == p->kcap) {
                size_t cap = p->kcap ? p->kcap * 2 : 8;
                sl_kid *nk = realloc(p->kids, cap * sizeof *nk);
                if (!nk) return SL_ENOMEM;
                p->kids = nk;
                p->kcap = cap;
            }
            a->slot_in_parent = p->nkids;
            p->kids[p->nkids].start = rec->ts;
            p->kids[p->nkids].finish = NO_END;
            p->nkids++;
            a->linked = 1;
        } else {
            a->orphan = 1;
            if (!a->has_trace) a->trace = rec->parent_short ? a->id : rec->parent;
        }
    } else if (!a->has_trace) {
        a->trace = a->id;
    }
    a->has_trace = 1;
    return SL_OK;
}

/* A span that ended with open children: a ghost takes its place in the
 * tables (a goes out and is recycled) while those children are open. In the
 * tables, a span with `ended` set is a ghost. */
static int keep_ghost(sl_spanner *s, sl_aspan *a)
{
    sl_aspan *g = s->free_list;
    if (g) s->free_list = g->next_free;
    else if (!(g = calloc(1, sizeof *g))) return SL_ENOMEM;
    reset_span(g);
    if (a->nkids > g->kcap) {
        sl_kid *nk = realloc(g->kids, a->nkids * sizeof *nk);
        if (!nk) {
            free_span(g);
            return SL_ENOMEM;
        }
        g->kids = nk;
        g->kcap = a->nkids;
    }
    memcpy(g->kids, a->kids, a->nkids * sizeof *g->kids);
    g->nkids = a->nkids;
    g->id = a->id;
    g->trace = a->trace;
    g->has_trace = a->has_trace;
    g->depth = a->depth;
    g->has_start = a->has_start;
    g->start = a->start;
    g->finish = a->finish;
    g->ended = 1;
    s->open.slots[find_slot(&s->open, &a->id)] = g;
    size_t i = find_slot(&s->tails, &a->id);
    if (s->tails.slots[i] == a) s->tails.slots[i] = g;
    return SL_OK;
}

/* Forgets a ghost once none of its children is open. */
static void ghost_check(sl_spanner *s, sl_aspan *g)
{
    for (size_t i = 0; i < g->nkids; i++)
        if (g->kids[i].finish == NO_END) return;
    table_remove(&s->open, g);
    table_remove(&s->tails, g);
    recycle(s, g);
}

static int on_end(sl_spanner *s, sl_aspan *a, const sl_record *rec)
{
    a->ended = 1;
    a->finish = rec->ts;
    if (put_text(&a->text, rec->status, rec->status_len, &a->status_off, &a->status_len) != SL_OK)
        return SL_ENOMEM;
    if (rec->error && put_text(&a->text, rec->error, rec->error_len, &a->error_off, &a->error_len) != SL_OK)
        return SL_ENOMEM;
    a->has_error = rec->error != NULL;
    /* Before compute_self, which clips and reorders the kids. */
    int open_kids = 0;
    for (size_t i = 0; i < a->nkids && !open_kids; i++) open_kids = a->kids[i].finish == NO_END;
    if (open_kids && keep_ghost(s, a) != SL_OK) return SL_ENOMEM;
    compute_self(a);
    if (a->linked) {
        sl_aspan *p = a->parent_short ? lookup(&s->tails, &a->parent) : lookup(&s->open, &a->parent);
        if (p && a->slot_in_parent < p->nkids && p->kids[a->slot_in_parent].start == a->start &&
            p->kids[a->slot_in_parent].finish == NO_END) {
            p->kids[a->slot_in_parent].finish = rec->ts;
            if (p->ended) ghost_check(s, p);
        }
    }
    /* No-ops when a ghost took a's place. */
    table_remove(&s->open, a);
    table_remove(&s->tails, a);
    return push_ready(s, a);
}

static int add_record(sl_spanner *s, const sl_record *rec)
{
    const char *raw = rec->raw;
    size_t raw_len = rec->raw_len;
    if (s->keep_raw && sl_reader_origin(s->reader) != SL_ORIGIN_SPANLINE_JSONL) {
        s->enc.len = 0;
        if (sl_record_to_jsonl(rec, &s->enc) != SL_OK) return SL_ENOMEM;
        raw = s->enc.ptr;
        raw_len = s->enc.len - 1;  /* without its '\n' */
    }
    if (rec->type == SL_REC_META) {
        if (!s->have_meta && s->keep_raw) {
            s->have_meta = 1;
            s->meta_raw.len = 0;
            if (sl_buf_reserve(&s->meta_raw, raw_len) != SL_OK) return SL_ENOMEM;
            memcpy(s->meta_raw.ptr, raw, raw_len);
            s->meta_raw.len = raw_len;
        }
        return SL_OK;
    }
    sl_aspan *a = lookup(&s->open, &rec->id);
    /* A ghost's span was handed out already: later records of it change
     * nothing the consumer can still see (the Lua path drops them too). */
    if (a && a->ended) return SL_OK;
    if (!a && !(a = new_span(s, &rec->id))) return SL_ENOMEM;
    if (s->keep_raw) {
        if (sl_buf_reserve(&a->raw, raw_len + 1) != SL_OK) return SL_ENOMEM;
        memcpy(a->raw.ptr + a->raw.len, raw, raw_len);
        a->raw.len += raw_len;
        a->raw.ptr[a->raw.len++] = '\n';
    }
    if (s->keep_attrs && rec->attrs_json && rec->type != SL_REC_EVENT) {
        if (sl_buf_reserve(&a->attrs, rec->attrs_len + 1) != SL_OK) return SL_ENOMEM;
        memcpy(a->attrs.ptr + a->attrs.len, rec->attrs_json, rec->attrs_len);
        a->attrs.len += rec->attrs_len;
        a->attrs.ptr[a->attrs.len++] = '\n';
    }
    switch (rec->type) {
    case SL_REC_START: return a->has_start ? SL_OK : on_start(s, a, rec);
    case SL_REC_EVENT: a->nevents++; return SL_OK;
    case SL_REC_END: return on_end(s, a, rec);
    default: return SL_OK;
    }
}

/* ===== API ===== */

sl_spanner *sl_spanner_new(sl_reader *r, int keep_raw)
{
    sl_spanner *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->reader = r;
    s->keep_raw = keep_raw;
    s->keep_attrs = 1;
    if (table_init(&s->open, 0) != SL_OK || table_init(&s->tails, 1) != SL_OK) {
        free(s->open.slots);
        free(s);
        return NULL;
    }
    return s;
}

static int by_start(const void *x, const void *y)
{
    const sl_aspan *a = *(sl_aspan *const *)x, *b = *(sl_aspan *const *)y;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return memcmp(a->id.bytes, b->id.bytes, 16);
}

int sl_spanner_next(sl_spanner *s, const sl_aspan **out)
{
    if (s->handed) {
        recycle(s, s->handed);
        s->handed = NULL;
    }
    while (s->rlen == 0 && !s->at_eof) {
        sl_record rec;
        int rc = sl_reader_next(s->reader, &rec);
        if (rc == SL_OK) {
            if (add_record(s, &rec) != SL_OK) return SL_ENOMEM;
            continue;
        }
        if (rc == SL_EOF) {
            s->at_eof = 1;
            s->tail = malloc((s->open.count ? s->open.count : 1) * sizeof *s->tail);
            if (!s->tail) return SL_ENOMEM;
            for (size_t i = 0; i < s->open.nslots; i++) {
                sl_aspan *a = s->open.slots[i];
                if (!a) continue;
                if (a->ended) free_span(a);  /* a ghost */
                else s->tail[s->tail_n++] = a;
            }
            qsort(s->tail, s->tail_n, sizeof *s->tail, by_start);
            table_clear(&s->open);
            table_clear(&s->tails);
            break;
        }
        return rc;  /* SL_EAGAIN (follow) or an error */
    }
    if (s->rlen > 0) {
        s->handed = s->ready[s->rhead++];
        s->rlen--;
        if (s->rlen == 0) s->rhead = 0;
    } else if (s->tail_i < s->tail_n) {
        s->handed = s->tail[s->tail_i++];
    } else {
        return SL_EOF;
    }
    *out = s->handed;
    return SL_OK;
}

void sl_spanner_keep_attrs(sl_spanner *s, int on)
{
    s->keep_attrs = on;
}

const char *sl_spanner_meta(const sl_spanner *s, size_t *len)
{
    *len = s->meta_raw.len;
    return s->have_meta ? s->meta_raw.ptr : NULL;
}

void sl_spanner_free(sl_spanner *s)
{
    if (!s) return;
    if (s->handed) free_span(s->handed);
    for (size_t i = 0; i < s->open.nslots; i++)
        if (s->open.slots[i]) free_span(s->open.slots[i]);
    for (size_t i = 0; i < s->rlen; i++) free_span(s->ready[s->rhead + i]);
    for (size_t i = s->tail_i; i < s->tail_n; i++) free_span(s->tail[i]);
    while (s->free_list) {
        sl_aspan *a = s->free_list;
        s->free_list = a->next_free;
        free_span(a);
    }
    free(s->open.slots);
    free(s->tails.slots);
    free(s->ready);
    free(s->tail);
    sl_buf_free(&s->meta_raw);
    sl_buf_free(&s->enc);
    free(s);
}
