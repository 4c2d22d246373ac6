/*
 * span.c: the record path and the span API: a span's start, attributes,
 * events and end become fixed-layout binary records in the calling thread's
 * ring.
 *
 * Key idea: recording copies a header and the raw, length-limited bytes
 * (cut at a UTF-8 boundary, counted) into the ring: no malloc, no encoding,
 * no lock shared with other threads; only the open-span list has a
 * per-thread lock (one its own thread takes without a locked instruction,
 * tracer_impl.h, so close and other threads can end spans). Flushing is
 * decided after the record is published, out of line.
 */
#include <stddef.h>
#include <stdlib.h>

#include "tracer_impl.h"

/* ===== RECORDING ===== */

typedef struct rec_in {
    uint8_t type, status;
    uint8_t flags;
    uint32_t lane;
    uint64_t ts;
    const sl_id *id, *trace, *parent;
    const char *text;
    size_t text_len, text_max;
    const sl_attr *attrs;
    size_t nattrs;
} rec_in;

#define MAX_ARRAY_ITEMS 1024u
#define SL_ATTR_NULL 7   /* what a bad or nested item becomes: JSON null */

static inline size_t key_fit(const sl_limits *L, const sl_attr *a)
{
    if (!a->key) return 0;
    return a->key_len <= L->max_name_len ? a->key_len : sl_utf8_cut(a->key, a->key_len, L->max_name_len);
}

static inline size_t str_fit(const char *s, size_t n, size_t max)
{
    if (!s) return 0;
    return n <= max ? n : sl_utf8_cut(s, n, max);
}

/* The ring size of one attribute (items of an array have no key). */
static size_t attr_size_any(const sl_limits *L, const sl_attr *a, int item)
{
    size_t size = sizeof(sl_ahdr) + (item ? 0 : key_fit(L, a));
    switch (a->type) {
    case SL_ATTR_STRING: return size + str_fit(a->v.s.ptr, a->v.s.len, L->max_value_len);
    case SL_ATTR_INT:
    case SL_ATTR_DOUBLE: return size + 8;
    case SL_ATTR_ARRAY:
        if (item || (!a->v.a.items && a->v.a.n)) return size;
        for (size_t j = 0; j < a->v.a.n && j < MAX_ARRAY_ITEMS; j++)
            size += attr_size_any(L, &a->v.a.items[j], 1);
        return size;
    default: return size;
    }
}

/* Writes one attribute at o; returns the cursor after it. Truncations are
 * counted into *trunc. */
static char *attr_write_any(char *o, const sl_limits *L, const sl_attr *a, int item, uint64_t *trunc)
{
    sl_ahdr h = {(uint8_t)a->type, 0, 0, 0};
    size_t klen = item ? 0 : key_fit(L, a);
    if (!item && a->key && klen < a->key_len) ++*trunc;
    h.key_len = (uint16_t)klen;
    const char *vs = NULL;
    size_t vlen = 0;
    switch (a->type) {
    case SL_ATTR_STRING:
        vs = a->v.s.ptr;
        vlen = str_fit(vs, a->v.s.len, L->max_value_len);
        if (vs && vlen < a->v.s.len) {
            h.trunc = 1;
            ++*trunc;
        }
        h.len = (uint32_t)vlen;
        break;
    case SL_ATTR_INT:
    case SL_ATTR_DOUBLE:
        break;
    case SL_ATTR_BOOL:
        h.len = a->v.b != 0;
        break;
    case SL_ATTR_ARRAY:
        if (item || (!a->v.a.items && a->v.a.n)) {
            h.type = SL_ATTR_NULL;   /* nested arrays are not allowed */
            ++*trunc;
            break;
        }
        h.len = (uint32_t)(a->v.a.n > MAX_ARRAY_ITEMS ? MAX_ARRAY_ITEMS : a->v.a.n);
        if (h.len < a->v.a.n) ++*trunc;
        break;
    default:
        h.type = SL_ATTR_NULL;
        break;
    }
    memcpy(o, &h, sizeof h);
    o += sizeof h;
    if (klen) {
        memcpy(o, a->key, klen);
        o += klen;
    }
    switch (h.type) {
    case SL_ATTR_STRING:
        if (vlen) memcpy(o, vs, vlen);
        o += vlen;
        break;
    case SL_ATTR_INT: memcpy(o, &a->v.i, 8); o += 8; break;
    case SL_ATTR_DOUBLE: memcpy(o, &a->v.d, 8); o += 8; break;
    case SL_ATTR_ARRAY:
        for (uint32_t j = 0; j < h.len; j++) o = attr_write_any(o, L, &a->v.a.items[j], 1, trunc);
        break;
    default: break;
    }
    return o;
}

/* Copies n bytes with fixed-size moves the compiler inlines (names and keys
 * are short: a libc call costs more than the copy). The moves may overlap
 * but never touch a byte outside [s, s + n) or [d, d + n). */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n >= 8) {
        if (__builtin_expect(n > 32, 0)) {
            memcpy(d, s, n);
            return;
        }
        for (size_t i = 0; i + 8 < n; i += 8) memcpy(d + i, s + i, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* The common attribute (a key within limits and a number, or a short
 * string) inline; everything else out of line. */
static inline int attr_simple(const sl_limits *L, const sl_attr *a)
{
    if (!a->key || a->key_len > L->max_name_len) return 0;
    if (a->type == SL_ATTR_INT || a->type == SL_ATTR_DOUBLE || a->type == SL_ATTR_BOOL) return 1;
    return a->type == SL_ATTR_STRING && a->v.s.ptr && a->v.s.len <= L->max_value_len;
}

static inline size_t attr_size(const sl_limits *L, const sl_attr *a)
{
    if (!attr_simple(L, a)) return attr_size_any(L, a, 0);
    size_t v = a->type == SL_ATTR_STRING ? a->v.s.len : a->type == SL_ATTR_BOOL ? 0 : 8;
    return sizeof(sl_ahdr) + a->key_len + v;
}

/* Little-endian machines store a record's header fields a word at a time
 * (the compiler does not merge the byte and half-word stores itself). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SL_WORD_HEADERS 1
#else
#define SL_WORD_HEADERS 0
#endif
_Static_assert(sizeof(sl_rhdr) == 48 && offsetof(sl_rhdr, lane) == 8 && offsetof(sl_rhdr, text_len) == 16 &&
                   offsetof(sl_rhdr, ts) == 24 && offsetof(sl_rhdr, id) == 32,
               "put_header writes sl_rhdr by words");
_Static_assert(sizeof(sl_rshort) == 32 && offsetof(sl_rshort, ts) == 8 && offsetof(sl_rshort, id) == 16,
               "emit_end writes sl_rshort by words");
_Static_assert(sizeof(sl_ahdr) == 8 && offsetof(sl_ahdr, key_len) == 2 && offsetof(sl_ahdr, len) == 4,
               "attr_write_simple writes sl_ahdr as one word");

/* A simple attribute (attr_simple). */
static inline char *attr_write_simple(char *o, const sl_attr *a)
{
    uint32_t len = a->type == SL_ATTR_STRING ? (uint32_t)a->v.s.len
                 : a->type == SL_ATTR_BOOL   ? (uint32_t)(a->v.b != 0)
                                             : 0;
#if SL_WORD_HEADERS
    /* sl_ahdr: type, trunc (0), key_len, len */
    uint64_t w = (uint64_t)(uint8_t)a->type | (uint64_t)(uint16_t)a->key_len << 16 | (uint64_t)len << 32;
    memcpy(o, &w, 8);
#else
    sl_ahdr h = {(uint8_t)a->type, 0, (uint16_t)a->key_len, len};
    memcpy(o, &h, sizeof h);
#endif
    o += sizeof(sl_ahdr);
    copy_short(o, a->key, a->key_len);
    o += a->key_len;
    switch (a->type) {
    case SL_ATTR_STRING: copy_short(o, a->v.s.ptr, a->v.s.len); return o + a->v.s.len;
    case SL_ATTR_INT: memcpy(o, &a->v.i, 8); return o + 8;
    case SL_ATTR_DOUBLE: memcpy(o, &a->v.d, 8); return o + 8;
    default: return o;
    }
}

static inline char *attr_write(char *o, const sl_limits *L, const sl_attr *a, uint64_t *trunc)
{
    if (!attr_simple(L, a)) return attr_write_any(o, L, a, 0, trunc);
    return attr_write_simple(o, a);
}

/* Writes a record header at dst and returns where its body starts. The
 * fields are stored straight into the ring: a header built on the stack
 * and copied whole would stall on store forwarding. */
static inline __attribute__((always_inline)) char *
put_header(char *dst, uint32_t size, uint8_t type, uint8_t status, uint8_t flags, uint32_t lane,
           uint32_t nattrs, uint32_t text_len, uint64_t ts, const sl_id *id)
{
#if SL_WORD_HEADERS
    /* sl_rhdr: size, type, status, flags, pad0 | lane, nattrs | text_len, pad1 | ts | id */
    uint64_t w0 = size | (uint64_t)type << 32 | (uint64_t)status << 40 | (uint64_t)flags << 48;
    uint64_t w1 = lane | (uint64_t)nattrs << 32, w2 = text_len;
    memcpy(dst, &w0, 8);
    memcpy(dst + 8, &w1, 8);
    memcpy(dst + 16, &w2, 8);
    memcpy(dst + 24, &ts, 8);
    memcpy(dst + 32, id, 16);
    return dst + sizeof(sl_rhdr);
#else
    sl_rhdr *h = (sl_rhdr *)(void *)dst;
    h->size = size;
    h->type = type;
    h->status = status;
    h->flags = flags;
    h->pad0 = 0;
    h->lane = lane;
    h->nattrs = nattrs;
    h->text_len = text_len;
    h->pad1 = 0;
    h->ts = ts;
    memcpy(&h->id, id, 16);
    return dst + sizeof *h;
#endif
}

/* A start record of a child span carries its trace and parent ids (a root
 * span's trace is its own id). */
static inline int ids_follow(uint8_t type, uint8_t flags)
{
    return type == SL_REC_START && (flags & SL_RF_HAS_PARENT);
}

static inline size_t rec_nattrs(const sl_tracer *t, const rec_in *r)
{
    if (!r->attrs) return 0;
    return r->nattrs > t->lim.max_attrs ? t->lim.max_attrs : r->nattrs;
}

/* The ring size of a record, a multiple of 8. */
static inline size_t rec_size(const sl_tracer *t, const rec_in *r)
{
    size_t size = sizeof(sl_rhdr) + (ids_follow(r->type, r->flags) ? 32 : 0) +
                  str_fit(r->text, r->text_len, r->text_max);
    size_t n = rec_nattrs(t, r);
    for (size_t i = 0; i < n; i++) size += attr_size(&t->lim, &r->attrs[i]);
    return (size + 7) & ~(size_t)7;
}

/* Writes a record of the given size at dst. */
static inline void rec_write(const sl_tracer *t, const rec_in *r, char *dst, size_t size, uint64_t *trunc)
{
    size_t text = str_fit(r->text, r->text_len, r->text_max);
    int text_trunc = r->text && text < r->text_len;
    size_t n = rec_nattrs(t, r);
    char *o = put_header(dst, (uint32_t)size, r->type, r->status,
                         (uint8_t)(r->flags | (text_trunc ? SL_RF_TEXT_TRUNC : 0)), r->lane,
                         (uint32_t)n, (uint32_t)text, r->ts, r->id);
    if (ids_follow(r->type, r->flags)) {
        memcpy(o, r->trace, 16);
        memcpy(o + 16, r->parent, 16);
        o += 32;
    }
    if (text) memcpy(o, r->text, text);
    o += text;
    for (size_t i = 0; i < n; i++) o = attr_write(o, &t->lim, &r->attrs[i], trunc);
    *trunc += (uint64_t)text_trunc + (r->attrs ? r->nattrs - n : 0);
}

/* A record too big for the ring: laid out on the heap and encoded in turn
 * with everything already buffered. */
static __attribute__((noinline)) int emit_direct(sl_tracer *t, sl_tstate *st, const rec_in *r, size_t size)
{
    char *tmp = malloc(size);
    if (!tmp) {
        bump(&st->dropped, 1);   /* counted; the span itself stays valid */
        return SL_OK;
    }
    uint64_t trunc = 0;
    rec_write(t, r, tmp, size, &trunc);
    bump(&st->truncated, trunc);
    if (sl_tl_draining == t) {
        /* re-entered from a callback sink: the batch is being written and
         * may not grow under the callback's feet */
        bump(&st->dropped, 1);
    } else {
        sl_drain_with(t, tmp);
    }
    free(tmp);
    return SL_OK;
}

/* Publishes a record and applies the flush policy: the caller's own drains
 * happen here, out of the hot path's way. */
static __attribute__((noinline)) void after_commit_slow(sl_tracer *t, sl_ring *ring, uint64_t used,
                                                        uint64_t ts)
{
    if (sl_tl_draining == t) return;
    if (t->always) {
        sl_drain_all(t, ts);
        return;
    }
    /* the writer is told already: no look at its tail (a cache line it
     * writes per record) on every record while the ring is half full */
    if (atomic_load_explicit(&t->bg, memory_order_relaxed) &&
        atomic_load_explicit(&t->kick_pending, memory_order_relaxed))
        return;
    uint64_t half = ring->cap / 2;
    if (used >= half) {
        ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        used = ring->head_local - ring->tail_cache;
    }
    if (atomic_load_explicit(&t->bg, memory_order_relaxed)) {
        if (used >= half) sl_kick_writer(t);
    } else if (used >= half ||
               (int64_t)(ts - atomic_load_explicit(&t->last_drain_ts, memory_order_relaxed)) >=
                   (int64_t)t->interval_ns) {
        sl_drain_all(t, ts);
    }
}

/* Publishes a record and applies the flush policy: with a writer thread and
 * a ring less than half full (nearly always) there is nothing to do; the
 * caller's own drains happen out of line. */
static inline void after_commit(sl_tracer *t, sl_ring *ring, uint64_t used, uint64_t ts)
{
    if (__builtin_expect(used < ring->cap / 2, 1)) {
        if (__builtin_expect(atomic_load_explicit(&t->bg, memory_order_relaxed), 1)) return;
        if (!t->always && (int64_t)(ts - atomic_load_explicit(&t->last_drain_ts, memory_order_relaxed)) <
                              (int64_t)t->interval_ns)
            return;
    }
    after_commit_slow(t, ring, used, ts);
}

/* The ring is full: drain it ourselves, or drop (block_when_full = 0, or
 * an output with no room that we may not wait for: a stalled reader). */
static __attribute__((noinline)) char *reserve_slow(sl_tracer *t, sl_tstate *st, uint32_t size, uint64_t ts)
{
    if (!t->block || sl_tl_draining == t) return NULL;
    if (t->producer_patience == SL_WAIT_NONE &&
        atomic_load_explicit(&t->sink.no_room, memory_order_relaxed))
        return NULL;
    sl_drain_all(t, ts);
    return sl_ring_reserve(&st->ring, size);
}

static inline __attribute__((always_inline)) int emit(sl_tracer *t, sl_tstate *st, const rec_in *r)
{
    uint64_t trunc = 0;
    size_t size = rec_size(t, r);
    sl_ring *ring = &st->ring;
    if (__builtin_expect(size > ring->cap / 2, 0)) {
        if (size > UINT32_MAX / 2) {
            bump(&st->dropped, 1);
            return SL_OK;
        }
        return emit_direct(t, st, r, size);
    }
    char *dst = sl_ring_reserve(ring, (uint32_t)size);
    if (__builtin_expect(!dst, 0) && !(dst = reserve_slow(t, st, (uint32_t)size, r->ts))) {
        bump(&st->dropped, 1);
        return SL_OK;
    }
    rec_write(t, r, dst, size, &trunc);
    if (trunc) bump(&st->truncated, trunc);
    after_commit(t, ring, sl_ring_commit(ring, (uint32_t)size), r->ts);
    return SL_OK;
}

/* An end record without an error message: the short header alone. */
static inline int emit_end(sl_tracer *t, sl_tstate *st, const sl_id *id, uint8_t status, uint64_t ts)
{
    sl_ring *ring = &st->ring;
    const uint32_t size = sizeof(sl_rshort);
    char *dst = sl_ring_reserve(ring, size);
    if (__builtin_expect(!dst, 0) && !(dst = reserve_slow(t, st, size, ts))) {
        bump(&st->dropped, 1);
        return SL_OK;
    }
#if SL_WORD_HEADERS
    uint64_t w0 = size | (uint64_t)SL_REC_END << 32 | (uint64_t)status << 40 | (uint64_t)SL_RF_SHORT << 48;
    memcpy(dst, &w0, 8);
    memcpy(dst + 8, &ts, 8);
    memcpy(dst + 16, id, 16);
#else
    sl_rshort h = {size, SL_REC_END, status, SL_RF_SHORT, 0, ts, *id};
    memcpy(dst, &h, sizeof h);
#endif
    after_commit(t, ring, sl_ring_commit(ring, size), ts);
    return SL_OK;
}

/* The start record of the common span (name and attributes within limits,
 * numbers and short strings, room in the ring): one pass sizes it, one
 * writes it. 0: the general path (emit) must do it. */
static inline int start_fast(sl_tracer *t, sl_tstate *st, const sl_span *span, uint8_t rflags,
                             const char *name, size_t name_len, const sl_attr *attrs, size_t nattrs)
{
    const sl_limits *L = &t->lim;
    if (!attrs) nattrs = 0;
    if (__builtin_expect(name_len > L->max_name_len || nattrs > L->max_attrs, 0)) return 0;
    size_t ids = ids_follow(SL_REC_START, rflags) ? 32 : 0;
    size_t size = sizeof(sl_rhdr) + ids + name_len;
    for (size_t i = 0; i < nattrs; i++) {
        const sl_attr *a = &attrs[i];
        if (__builtin_expect(!attr_simple(L, a), 0)) return 0;
        size += sizeof(sl_ahdr) + a->key_len +
                (a->type == SL_ATTR_STRING ? a->v.s.len : a->type == SL_ATTR_BOOL ? 0 : 8);
    }
    size = (size + 7) & ~(size_t)7;
    sl_ring *ring = &st->ring;
    if (__builtin_expect(size > ring->cap / 2, 0)) return 0;
    char *dst = sl_ring_reserve(ring, (uint32_t)size);
    if (__builtin_expect(!dst, 0)) return 0;
    char *o = put_header(dst, (uint32_t)size, SL_REC_START, 0, rflags, span->lane, (uint32_t)nattrs,
                         (uint32_t)name_len, span->start_ns, &span->id);
    if (ids) {
        memcpy(o, &span->trace, 16);
        memcpy(o + 16, &span->parent.span, 16);
        o += 32;
    }
    copy_short(o, name, name_len);
    o += name_len;
    for (size_t i = 0; i < nattrs; i++) o = attr_write_simple(o, &attrs[i]);
    after_commit(t, ring, sl_ring_commit(ring, (uint32_t)size), span->start_ns);
    return 1;
}

void sl_abandon_open_spans(sl_tracer *t, sl_tstate *st, uint64_t ts)
{
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
        /* one span at a time: emitting may drain into a callback sink,
         * which may end spans of its own */
        for (;;) {
            sl_open_lock_other(s);
            sl_span *sp = s->open_head;
            if (sp) {
                s->open_head = sp->open_next;
                if (sp->open_next) sp->open_next->open_prev = NULL;
                sp->open_next = sp->open_prev = NULL;
                sp->flags &= ~SL_SPAN_OPEN;
            }
            spin_unlock(&s->spin);
            if (!sp) break;
            rec_in r = {SL_REC_END, SL_STATUS_ABANDONED, 0, 0, ts < sp->start_ns ? sp->start_ns : ts,
                        &sp->id, NULL, NULL, NULL, 0, 0, NULL, 0};
            emit(t, st, &r);
            bump(&st->ended, 1);
            bump(&st->abandoned, 1);
            if (sp->flags & SL_SPAN_ALLOCATED) free(sp);
        }
    }
}

/* ===== SPANS ===== */

/* sl_id_is_zero inline: a child span asks on every start */
static inline int id_nonzero(const sl_id *id)
{
    uint64_t a, b;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    return (a | b) != 0;
}

/* The start record of any other span (limits, arrays, a full ring): out of
 * line, so the common path keeps its registers. */
static __attribute__((noinline)) int start_general(sl_tracer *t, sl_tstate *st, const sl_span *span,
                                                   uint8_t rflags, const char *name, size_t name_len,
                                                   const sl_start_opts *opts)
{
    rec_in r = {SL_REC_START, 0, rflags, span->lane, span->start_ns, &span->id, &span->trace,
                &span->parent.span, name, name_len, t->lim.max_name_len, opts->attrs, opts->nattrs};
    return emit(t, st, &r);
}

int sl_span_begin(sl_tracer *t, sl_span *span, const char *name, size_t name_len,
                  const sl_start_opts *opts)
{
    static const sl_start_opts defaults;
    if (__builtin_expect(!span, 0)) return SL_EINVAL;
    span->flags = 0;   /* a span that failed to begin ends with SL_ESTATE */
    if (__builtin_expect(!t || (!name && name_len), 0)) return SL_EINVAL;
    if (__builtin_expect(atomic_load_explicit(&t->closed, memory_order_relaxed), 0)) return SL_ECLOSED;
    sl_tstate *st = tstate(t);
    if (__builtin_expect(!st, 0)) return SL_ENOMEM;
    if (!opts) opts = &defaults;
    uint64_t ts = opts->ts ? opts->ts : tracer_now(t);
    const sl_context *p = opts->parent;
    uint32_t flags = SL_SPAN_OPEN;
    uint8_t rflags = 0;
    span->tracer = t;
    if (opts->id) span->id = *opts->id;
    else sl_idgen_next_fast(&st->gen, ts, &span->id);
    if (p && id_nonzero(&p->trace)) {
        span->parent = *p;
        span->trace = p->trace;
        flags |= SL_SPAN_HAS_PARENT;
        rflags = SL_RF_HAS_PARENT | (p->remote ? SL_RF_PARENT_REMOTE : 0);
    } else {
        memset(&span->parent, 0, sizeof span->parent);
        span->trace = span->id;
    }
    span->start_ns = ts;
    span->lane = opts->lane ? opts->lane : st->lane;
    span->owner = st;
    span->open_prev = NULL;
    int locked = open_lock_own(st);
    span->open_next = st->open_head;
    if (st->open_head) st->open_head->open_prev = span;
    st->open_head = span;
    span->flags = flags;
    open_unlock_own(st, locked);
    bump(&st->started, 1);
    if (__builtin_expect(start_fast(t, st, span, rflags, name, name_len, opts->attrs, opts->nattrs), 1))
        return SL_OK;
    return start_general(t, st, span, rflags, name, name_len, opts);
}

int sl_tracer_next_id(sl_tracer *t, sl_id *out, uint64_t *ts)
{
    if (!out || !ts) return SL_EINVAL;
    memset(out, 0, sizeof *out);
    *ts = 0;
    if (!t) return SL_EINVAL;
    if (atomic_load_explicit(&t->closed, memory_order_relaxed)) return SL_ECLOSED;
    sl_tstate *st = tstate(t);
    if (!st) return SL_ENOMEM;
    *ts = tracer_now(t);
    sl_idgen_next_fast(&st->gen, *ts, out);
    return SL_OK;
}

sl_span *sl_span_start(sl_tracer *t, const char *name, const sl_span *parent, sl_error *err)
{
    if (!t || !name) {
        sl_set_error(err, SL_EINVAL, 0, "sl_span_start: %s", !t ? "no tracer" : "no name");
        return NULL;
    }
    sl_span *s = malloc(sizeof *s);
    if (!s) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    sl_context ctx;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    if (parent) {
        sl_span_context(parent, &ctx);
        o.parent = &ctx;
    }
    /* begin either links the span and returns SL_OK, or fails before */
    int rc = sl_span_begin(t, s, name, strlen(name), &o);
    if (rc != SL_OK) {
        free(s);
        sl_set_error(err, (sl_code)rc, 0, "sl_span_start: %s", sl_strerror(rc));
        return NULL;
    }
    s->flags |= SL_SPAN_ALLOCATED;
    return s;
}

void sl_span_context(const sl_span *span, sl_context *out)
{
    memset(out, 0, sizeof *out);
    out->trace = span->trace;
    out->span = span->id;
    out->flags = 1;
    out->remote = 0;
}

static int span_record(sl_span *span, uint8_t type, const char *name, size_t name_len,
                       const sl_attr *attrs, size_t n)
{
    if (!span || (!attrs && n) || (!name && name_len)) return SL_EINVAL;
    if (!(span->flags & SL_SPAN_OPEN)) return SL_ESTATE;
    sl_tracer *t = span->tracer;
    sl_tstate *st = tstate(t);
    if (!st) return SL_ENOMEM;
    uint64_t ts = tracer_now(t);
    rec_in r = {type, 0, 0, 0, ts, &span->id, NULL, NULL, name, name_len, t->lim.max_name_len,
                attrs, n};
    return emit(t, st, &r);
}

int sl_span_attrs(sl_span *span, const sl_attr *attrs, size_t n)
{
    return span_record(span, SL_REC_ATTR, NULL, 0, attrs, n);
}

int sl_span_event(sl_span *span, const char *name, size_t name_len, const sl_attr *attrs, size_t n)
{
    return span_record(span, SL_REC_EVENT, name ? name : "", name ? name_len : 0, attrs, n);
}

static int attr1(sl_span *span, const char *key, sl_attr *a)
{
    if (!key) return SL_EINVAL;
    a->key = key;
    a->key_len = strlen(key);
    return sl_span_attrs(span, a, 1);
}

int sl_span_attr_str(sl_span *span, const char *key, const char *value)
{
    sl_attr a;
    if (!value) return SL_EINVAL;
    a.type = SL_ATTR_STRING;
    a.v.s.ptr = value;
    a.v.s.len = strlen(value);
    return attr1(span, key, &a);
}

int sl_span_attr_int(sl_span *span, const char *key, int64_t value)
{
    sl_attr a;
    a.type = SL_ATTR_INT;
    a.v.i = value;
    return attr1(span, key, &a);
}

int sl_span_attr_double(sl_span *span, const char *key, double value)
{
    sl_attr a;
    a.type = SL_ATTR_DOUBLE;
    a.v.d = value;
    return attr1(span, key, &a);
}

int sl_span_attr_bool(sl_span *span, const char *key, int value)
{
    sl_attr a;
    a.type = SL_ATTR_BOOL;
    a.v.b = value != 0;
    return attr1(span, key, &a);
}

/* An end record with an error message: out of line, like start_general. */
static __attribute__((noinline)) int end_with_error(sl_tracer *t, sl_tstate *st, const sl_id *id,
                                                    uint64_t ts, const char *error, size_t error_len)
{
    rec_in r = {SL_REC_END, SL_STATUS_ERROR, 0, 0, ts, id, NULL, NULL, error ? error : "", error_len,
                t->lim.max_value_len, NULL, 0};
    return emit(t, st, &r);
}

int sl_span_end(sl_span *span, sl_span_status status, const char *error, size_t error_len)
{
    if (!span || (unsigned)status > SL_STATUS_ABANDONED || (!error && error_len)) return SL_EINVAL;
    if (!(span->flags & SL_SPAN_OPEN)) return SL_ESTATE;
    sl_tracer *t = span->tracer;
    sl_tstate *owner = span->owner;
    /* read first: the clock's latency overlaps the unlinking below */
    uint64_t ts = tracer_now(t);
    sl_tstate *st = tstate(t);
    int locked = 1;
    if (__builtin_expect(owner == st, 1)) locked = open_lock_own(owner);
    else sl_open_lock_other(owner);
    int open = (span->flags & SL_SPAN_OPEN) != 0;
    if (open) {
        if (span->open_prev) span->open_prev->open_next = span->open_next;
        else owner->open_head = span->open_next;
        if (span->open_next) span->open_next->open_prev = span->open_prev;
        span->flags &= ~SL_SPAN_OPEN;
    }
    open_unlock_own(owner, locked);
    if (!open) return SL_ESTATE;
    int rc = SL_ENOMEM;
    if (st) {
        if (ts < span->start_ns) ts = span->start_ns;
        if (status == SL_STATUS_ERROR) {
            rc = end_with_error(t, st, &span->id, ts, error, error_len);
        } else {
            rc = emit_end(t, st, &span->id, (uint8_t)status, ts);
        }
        bump(&st->ended, 1);
        if (status == SL_STATUS_ABANDONED) bump(&st->abandoned, 1);
    }
    if (span->flags & SL_SPAN_ALLOCATED) free(span);
    return rc;
}

