/*
 * tracer.c: the tracer: configuration, per-thread state, open spans, the
 * record path, draining and counters.
 *
 * Key idea: each thread that records gets a thread state (found through a
 * thread-local cache keyed by the tracer's serial number) holding its own
 * SPSC ring, id generator and lane. Recording a span copies a fixed header
 * and the raw, length-limited bytes into that ring: no malloc, no encoding,
 * no lock shared with other threads. Draining (the writer thread, or the
 * calling thread at flush points; one drain mutex) encodes and writes whole
 * lines in large batches.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ===== STATE ===== */

typedef struct sl_tstate {
    sl_ring ring;
    sl_idgen gen;
    uint32_t lane;
    pthread_t thread;
    int dead;                      /* its thread exited: another may adopt it (reg_mu) */
    _Atomic int spin;              /* guards the open list */
    sl_span *open_head;
    /* written only by the owning thread */
    _Atomic uint64_t started, ended, abandoned, truncated, dropped;
    struct sl_tstate *next;        /* immutable once published */
} sl_tstate;

struct sl_tracer {
    uint64_t serial;
    sl_sink sink;
    sl_format format;
    int always, block;
    sl_limits lim;
    sl_clock_fn clock;
    void *clock_ud;
    uint64_t seed;
    uint64_t interval_ns;
    size_t ring_bytes;
    char *service, *host;

    pthread_mutex_t reg_mu;        /* thread-state registration */
    _Atomic(sl_tstate *) states;
    uint32_t nstates;

    pthread_mutex_t drain_mu;      /* the one consumer at a time */
    sl_buf out;
    uint64_t out_records;
    int need_meta;
    _Atomic uint64_t last_drain_ts;
    _Atomic uint64_t records, bytes, wdropped, write_errors;
    _Atomic int last_errno;

    /* background writer */
    _Atomic int bg;                /* producers kick the writer instead of draining */
    int writer_started;
    pthread_t writer;
    pthread_mutex_t wmu;
    pthread_cond_t wcond;
    int wstop, wkick;
    _Atomic int kick_pending;

    _Atomic int closed;
    struct sl_tracer *gnext;       /* global registry (atexit, fork) */
};

static _Thread_local uint64_t tl_serial;
static _Thread_local sl_tstate *tl_state;
static _Thread_local sl_tracer *tl_draining;   /* re-entry guard for callback sinks */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sl_tracer *g_tracers;
static _Atomic uint64_t g_serial;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Which thread states a thread holds, so its exit can hand them on. */
typedef struct tl_node {
    uint64_t serial;
    sl_tstate *st;
    struct tl_node *next;
} tl_node;
static pthread_key_t g_key;
static int g_key_ok;

static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void spin_lock(_Atomic int *l)
{
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static inline void spin_unlock(_Atomic int *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

static inline uint64_t tracer_now(const sl_tracer *t)
{
    return t->clock ? t->clock(t->clock_ud) : sl_clock_fast();
}

/* ===== ERRORS ===== */

const char *sl_strerror(int code)
{
    switch (code) {
    case SL_OK: return "ok";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "out of memory";
    case SL_EIO: return "input/output error";
    case SL_ECLOSED: return "tracer is closed";
    case SL_ESTATE: return "span already ended";
    case SL_EPARSE: return "parse error";
    case SL_EOF: return "end of input";
    case SL_EAGAIN: return "no complete record yet";
    }
    return "unknown error";
}

void sl_set_error(sl_error *err, int code, int sys_errno, const char *fmt, ...)
{
    if (!err) return;
    err->code = code;
    err->sys_errno = sys_errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* ===== THREAD STATES ===== */

/* A thread ends: its states (of tracers still open) become adoptable, so
 * short-lived threads reuse rings instead of piling them up. */
static void thread_exit(void *p)
{
    pthread_mutex_lock(&g_mu);
    for (tl_node *n = p, *next; n; n = next) {
        next = n->next;
        for (sl_tracer *t = g_tracers; t; t = t->gnext) {
            if (t->serial != n->serial) continue;
            pthread_mutex_lock(&t->reg_mu);
            n->st->dead = 1;
            pthread_mutex_unlock(&t->reg_mu);
            break;
        }
        free(n);
    }
    pthread_mutex_unlock(&g_mu);
}

static sl_tstate *tstate_slow(sl_tracer *t)
{
    pthread_t self = pthread_self();
    sl_tstate *st;
    int bound = 0;
    pthread_mutex_lock(&t->reg_mu);
    for (st = atomic_load(&t->states); st; st = st->next)
        if (!st->dead && pthread_equal(st->thread, self)) break;
    if (!st) {
        /* adopt the state of a thread that is gone: its ring, lane and id
         * stream carry on (reg_mu orders its last writes before ours) */
        for (st = atomic_load(&t->states); st; st = st->next) {
            if (st->dead) {
                st->dead = 0;
                st->thread = self;
                bound = 1;
                break;
            }
        }
    }
    if (!st) {
        st = calloc(1, sizeof *st);
        if (st && sl_ring_init(&st->ring, t->ring_bytes) != 0) {
            free(st);
            st = NULL;
        }
        if (st) {
            st->thread = self;
            st->lane = ++t->nstates;
            /* deterministic tracers: the first thread gets exactly the seed */
            sl_idgen_init(&st->gen, t->seed ? t->seed + (st->lane - 1) * 0x9e3779b97f4a7c15ull : 0);
            if (t->seed && !st->gen.deterministic) st->gen.deterministic = 1;
            st->next = atomic_load(&t->states);
            atomic_store(&t->states, st);
            bound = 1;
        }
    }
    pthread_mutex_unlock(&t->reg_mu);
    if (st && bound && g_key_ok) {
        tl_node *n = malloc(sizeof *n);
        if (n) {
            n->serial = t->serial;
            n->st = st;
            n->next = pthread_getspecific(g_key);
            pthread_setspecific(g_key, n);
        }
    }
    if (st) {
        tl_serial = t->serial;
        tl_state = st;
    }
    return st;
}

static inline sl_tstate *tstate(sl_tracer *t)
{
    if (t->serial == tl_serial) return tl_state;
    return tstate_slow(t);
}

/* ===== DRAINING (drain_mu held) ===== */

/* Writes the batch; 0 or the errno of a failed write (its records dropped). */
static int write_out(sl_tracer *t)
{
    int e = 0;
    if (t->out.len) {
        e = sl_sink_write(&t->sink, t->out.p, t->out.len);
        if (e) {
            add(&t->write_errors, 1);
            atomic_store_explicit(&t->last_errno, e, memory_order_relaxed);
            add(&t->wdropped, t->out_records);
        } else {
            add(&t->records, t->out_records);
            add(&t->bytes, t->out.len);
        }
    }
    t->out.len = 0;
    t->out_records = 0;
    return e;
}

static void encode_meta(sl_tracer *t, uint64_t ts)
{
    sl_meta m = {(int64_t)getpid(), t->service, t->host, ts};
    int rc = t->format == SL_MSGPACK ? sl_msgpack_meta(&t->out, &m) : sl_jsonl_meta(&t->out, &m);
    if (rc == 0) t->out_records++;
    else add(&t->wdropped, 1);
}

#define OUT_BATCH (256u * 1024u)

static int encode_record(sl_tracer *t, const char *rec)
{
    sl_rview v;
    sl_rview_decode(rec, &v);
    int rc = t->format == SL_MSGPACK ? sl_msgpack_encode(&t->out, &v) : sl_jsonl_encode(&t->out, &v);
    if (rc == 0) t->out_records++;
    else add(&t->wdropped, 1);
    if (t->out.len >= OUT_BATCH) return write_out(t);
    return 0;
}

static int drain_ring(sl_tracer *t, sl_tstate *s)
{
    sl_ring *r = &s->ring;
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    int e = 0;
    while (tail < head) {
        const char *rec = r->mem + (tail & r->mask);
        uint32_t size;
        memcpy(&size, rec, 4);
        if ((uint8_t)rec[4] != SL_REC_PAD) {
            int we = encode_record(t, rec);
            if (we) e = we;
        }
        tail += size;
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return e;
}

/* Drains every ring of t into the sink; 0 or the errno of a failed write. */
static int drain_all(sl_tracer *t, uint64_t ts)
{
    pthread_mutex_lock(&t->drain_mu);
    sl_tracer *outer = tl_draining;
    tl_draining = t;
    int e = 0;
    if (t->need_meta) {
        t->need_meta = 0;
        encode_meta(t, ts);
    }
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
        int we = drain_ring(t, s);
        if (we) e = we;
    }
    int we = write_out(t);
    if (we) e = we;
    atomic_store_explicit(&t->last_drain_ts, ts, memory_order_relaxed);
    tl_draining = outer;
    pthread_mutex_unlock(&t->drain_mu);
    sl_clock_refine();
    return e;
}

/* ===== BACKGROUND WRITER ===== */

static void *writer_main(void *arg)
{
    sl_tracer *t = arg;
    sl_sink_sigpipe_blocked = 1;
    pthread_mutex_lock(&t->wmu);
    while (!t->wstop) {
        if (!t->wkick) {
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            uint64_t ns = (uint64_t)dl.tv_nsec + t->interval_ns;
            dl.tv_sec += (time_t)(ns / 1000000000u);
            dl.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&t->wcond, &t->wmu, &dl);
        }
        t->wkick = 0;
        atomic_store_explicit(&t->kick_pending, 0, memory_order_relaxed);
        pthread_mutex_unlock(&t->wmu);
        drain_all(t, tracer_now(t));
        pthread_mutex_lock(&t->wmu);
    }
    pthread_mutex_unlock(&t->wmu);
    return NULL;
}

static int start_writer(sl_tracer *t)
{
    sigset_t all, old;
    sigfillset(&all);
    /* the writer inherits a full mask: host signals go to host threads */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t->writer, NULL, writer_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return rc;
    t->writer_started = 1;
    atomic_store(&t->bg, 1);
    return 0;
}

static void stop_writer(sl_tracer *t)
{
    if (!t->writer_started) return;
    atomic_store(&t->bg, 0);
    pthread_mutex_lock(&t->wmu);
    t->wstop = 1;
    pthread_cond_signal(&t->wcond);
    pthread_mutex_unlock(&t->wmu);
    pthread_join(t->writer, NULL);
    t->writer_started = 0;
}

static void kick_writer(sl_tracer *t)
{
    if (atomic_load_explicit(&t->kick_pending, memory_order_relaxed)) return;
    atomic_store_explicit(&t->kick_pending, 1, memory_order_relaxed);
    pthread_mutex_lock(&t->wmu);
    t->wkick = 1;
    pthread_cond_signal(&t->wcond);
    pthread_mutex_unlock(&t->wmu);
}

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
static size_t attr_size(const sl_limits *L, const sl_attr *a, int item)
{
    size_t size = sizeof(sl_ahdr) + (item ? 0 : key_fit(L, a));
    switch (a->type) {
    case SL_ATTR_STRING: return size + str_fit(a->v.s.ptr, a->v.s.len, L->max_value_len);
    case SL_ATTR_INT:
    case SL_ATTR_DOUBLE: return size + 8;
    case SL_ATTR_ARRAY:
        if (item || (!a->v.a.items && a->v.a.n)) return size;
        for (size_t j = 0; j < a->v.a.n && j < MAX_ARRAY_ITEMS; j++)
            size += attr_size(L, &a->v.a.items[j], 1);
        return size;
    default: return size;
    }
}

/* Writes one attribute at o; returns the cursor after it. Truncations are
 * counted into *trunc. */
static char *attr_write(char *o, const sl_limits *L, const sl_attr *a, int item, uint64_t *trunc)
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
        for (uint32_t j = 0; j < h.len; j++) o = attr_write(o, L, &a->v.a.items[j], 1, trunc);
        break;
    default: break;
    }
    return o;
}

static inline size_t rec_nattrs(const sl_tracer *t, const rec_in *r)
{
    if (!r->attrs) return 0;
    return r->nattrs > t->lim.max_attrs ? t->lim.max_attrs : r->nattrs;
}

/* The ring size of a record, a multiple of 8. */
static inline size_t rec_size(const sl_tracer *t, const rec_in *r)
{
    size_t size = sizeof(sl_rhdr) + (r->type == SL_REC_START ? 32 : 0) +
                  str_fit(r->text, r->text_len, r->text_max);
    size_t n = rec_nattrs(t, r);
    for (size_t i = 0; i < n; i++) size += attr_size(&t->lim, &r->attrs[i], 0);
    return (size + 7) & ~(size_t)7;
}

/* Writes a record of the given size at dst. */
static inline void rec_write(const sl_tracer *t, const rec_in *r, char *dst, size_t size, uint64_t *trunc)
{
    size_t text = str_fit(r->text, r->text_len, r->text_max);
    int text_trunc = r->text && text < r->text_len;
    size_t n = rec_nattrs(t, r);
    /* fields stored straight into the ring: a header built on the stack and
     * copied whole would stall on store forwarding */
    sl_rhdr *h = (sl_rhdr *)(void *)dst;
    h->size = (uint32_t)size;
    h->type = r->type;
    h->status = r->status;
    h->flags = (uint8_t)(r->flags | (text_trunc ? SL_RF_TEXT_TRUNC : 0));
    h->pad0 = 0;
    h->lane = r->lane;
    h->nattrs = (uint32_t)n;
    h->text_len = (uint32_t)text;
    h->pad1 = 0;
    h->ts = r->ts;
    memcpy(&h->id, r->id, 16);
    char *o = dst + sizeof *h;
    if (r->type == SL_REC_START) {
        memcpy(o, r->trace, 16);
        memcpy(o + 16, r->parent, 16);
        o += 32;
    }
    if (text) memcpy(o, r->text, text);
    o += text;
    for (size_t i = 0; i < n; i++) o = attr_write(o, &t->lim, &r->attrs[i], 0, trunc);
    *trunc += (uint64_t)text_trunc + (r->attrs ? r->nattrs - n : 0);
}

/* A record too big for the ring: laid out on the heap and encoded in turn
 * with everything already buffered. */
static int emit_direct(sl_tracer *t, sl_tstate *st, const rec_in *r, size_t size)
{
    char *tmp = malloc(size);
    if (!tmp) {
        bump(&st->dropped, 1);
        return SL_ENOMEM;
    }
    uint64_t trunc = 0;
    rec_write(t, r, tmp, size, &trunc);
    bump(&st->truncated, trunc);
    if (tl_draining == t) {
        /* re-entered from a callback sink: the batch being written is ours */
        encode_record(t, tmp);
    } else {
        pthread_mutex_lock(&t->drain_mu);
        tl_draining = t;
        for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) drain_ring(t, s);
        encode_record(t, tmp);
        write_out(t);
        tl_draining = NULL;
        pthread_mutex_unlock(&t->drain_mu);
    }
    free(tmp);
    return SL_OK;
}

static inline __attribute__((always_inline)) int emit(sl_tracer *t, sl_tstate *st, const rec_in *r)
{
    uint64_t trunc = 0;
    size_t size = rec_size(t, r);
    if (size > UINT32_MAX / 2) {
        bump(&st->dropped, 1);
        return SL_EINVAL;
    }
    sl_ring *ring = &st->ring;
    if (size > ring->cap / 2) return emit_direct(t, st, r, size);
    char *dst = sl_ring_reserve(ring, (uint32_t)size);
    if (!dst) {
        if (!t->block || tl_draining == t) {
            bump(&st->dropped, 1);
            return SL_OK;
        }
        drain_all(t, r->ts);
        dst = sl_ring_reserve(ring, (uint32_t)size);
        if (!dst) {
            bump(&st->dropped, 1);
            return SL_OK;
        }
    }
    rec_write(t, r, dst, size, &trunc);
    if (trunc) bump(&st->truncated, trunc);
    uint64_t used = sl_ring_commit(ring, (uint32_t)size);
    if (tl_draining == t) return SL_OK;
    if (t->always) {
        drain_all(t, r->ts);
        return SL_OK;
    }
    uint64_t half = ring->cap / 2;
    if (used >= half) {
        ring->tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
        used = ring->head_local - ring->tail_cache;
    }
    if (atomic_load_explicit(&t->bg, memory_order_relaxed)) {
        if (used >= half) kick_writer(t);
    } else if (used >= half ||
               (int64_t)(r->ts - atomic_load_explicit(&t->last_drain_ts, memory_order_relaxed)) >=
                   (int64_t)t->interval_ns) {
        drain_all(t, r->ts);
    }
    return SL_OK;
}

/* ===== TRACER ===== */

void sl_config_init(sl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sink = SL_SINK_FD;
    cfg->fd = 2;
    cfg->format = SL_JSONL;
    cfg->flush = SL_FLUSH_BATCH;
    cfg->flush_interval_ms = 100;
    cfg->buffer_size = 1u << 20;
    cfg->background = -1;
    cfg->block_when_full = 1;
    cfg->write_meta = 1;
    cfg->limits.max_attrs = 64;
    cfg->limits.max_value_len = 4096;
    cfg->limits.max_name_len = 256;
}

static void at_exit_flush(void)
{
    pthread_mutex_lock(&g_mu);
    /* this also runs when a dlopen'ed copy of the library is unloaded: no
     * thread may call our key destructor after that */
    if (g_key_ok) {
        g_key_ok = 0;
        pthread_key_delete(g_key);
    }
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        /* never call a callback sink from exit: it may be a Lua function */
        if (t->sink.kind != SL_SINK_PATH && t->sink.kind != SL_SINK_FD) continue;
        if (tl_draining == t) continue;
        stop_writer(t);
        drain_all(t, tracer_now(t));
    }
    pthread_mutex_unlock(&g_mu);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_mu);
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        if (tl_draining != t) pthread_mutex_lock(&t->drain_mu);
        pthread_mutex_lock(&t->reg_mu);
    }
}

static void fork_parent(void)
{
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        pthread_mutex_unlock(&t->reg_mu);
        if (tl_draining != t) pthread_mutex_unlock(&t->drain_mu);
    }
    pthread_mutex_unlock(&g_mu);
}

/* The child has one thread, no writer, and a copy of everything the parent
 * buffered (the parent writes that): drop it, forget the other threads' open
 * spans, flush from the calling thread from now on, and announce the new pid
 * with a meta record. */
static void fork_child(void)
{
    pthread_t self = pthread_self();
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        pthread_mutex_unlock(&t->reg_mu);
        if (tl_draining != t) pthread_mutex_unlock(&t->drain_mu);
        pthread_mutex_init(&t->wmu, NULL);
        pthread_cond_init(&t->wcond, NULL);
        t->writer_started = 0;
        t->wstop = t->wkick = 0;
        atomic_store(&t->kick_pending, 0);
        atomic_store(&t->bg, 0);
        if (tl_draining != t) {
            t->out.len = 0;
            t->out_records = 0;
        }
        for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
            atomic_store(&s->spin, 0);
            atomic_store(&s->ring.tail, atomic_load(&s->ring.head));
            if (!pthread_equal(s->thread, self)) {
                s->dead = 1;   /* that thread does not exist here */
                for (sl_span *sp = s->open_head; sp; sp = sp->open_next) sp->flags &= ~SL_SPAN_OPEN;
                s->open_head = NULL;
            }
        }
        if (t->need_meta || t->sink.kind != SL_SINK_MEMORY) t->need_meta = 1;
    }
    pthread_mutex_unlock(&g_mu);
}

static void global_init(void)
{
    g_key_ok = pthread_key_create(&g_key, thread_exit) == 0;
    atexit(at_exit_flush);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

sl_tracer *sl_tracer_open(const sl_config *cfg, sl_error *err)
{
    if (err) memset(err, 0, sizeof *err);
    if (!cfg) {
        sl_set_error(err, SL_EINVAL, 0, "no config");
        return NULL;
    }
    if (cfg->format != SL_JSONL && cfg->format != SL_MSGPACK) {
        sl_set_error(err, SL_EINVAL, 0, "unknown format %d", (int)cfg->format);
        return NULL;
    }
    pthread_once(&g_once, global_init);
    sl_tracer *t = calloc(1, sizeof *t);
    if (!t) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    t->serial = atomic_fetch_add(&g_serial, 1) + 1;
    t->format = cfg->format;
    t->always = cfg->flush == SL_FLUSH_ALWAYS;
    t->block = cfg->block_when_full != 0;
    t->lim = cfg->limits;
    if (!t->lim.max_attrs) t->lim.max_attrs = 64;
    if (!t->lim.max_value_len) t->lim.max_value_len = 4096;
    if (!t->lim.max_name_len) t->lim.max_name_len = 256;
    if (t->lim.max_name_len > 65535) t->lim.max_name_len = 65535;
    t->clock = cfg->clock;
    t->clock_ud = cfg->clock_ud;
    t->seed = cfg->seed;
    t->interval_ns = (uint64_t)cfg->flush_interval_ms * 1000000u;
    t->ring_bytes = cfg->buffer_size ? cfg->buffer_size : (1u << 20);
    int rc = sl_sink_open(&t->sink, cfg, err);
    if (rc != SL_OK) {
        free(t);
        return NULL;
    }
    if (cfg->service) t->service = strdup(cfg->service);
    if (cfg->host) {
        t->host = strdup(cfg->host);
    } else {
        char h[256] = "";
        gethostname(h, sizeof h - 1);
        t->host = strdup(h);
    }
    if ((cfg->service && !t->service) || !t->host) {
        sl_sink_close(&t->sink);
        free(t->service);
        free(t->host);
        free(t);
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->reg_mu, NULL);
    pthread_mutex_init(&t->drain_mu, NULL);
    pthread_mutex_init(&t->wmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wcond, &ca);
    pthread_condattr_destroy(&ca);

    uint64_t now = tracer_now(t);
    atomic_store(&t->last_drain_ts, now);
    if (cfg->write_meta) {
        /* written right away so the meta record is the stream's first */
        pthread_mutex_lock(&t->drain_mu);
        encode_meta(t, now);
        write_out(t);
        pthread_mutex_unlock(&t->drain_mu);
    }
    int want_bg = cfg->background < 0 ? (cfg->sink == SL_SINK_PATH || cfg->sink == SL_SINK_FD)
                                      : cfg->background != 0;
    /* callback and memory sinks are only ever touched by the tracer's callers */
    if (cfg->sink == SL_SINK_CALLBACK || cfg->sink == SL_SINK_MEMORY || t->always) want_bg = 0;
    if (want_bg) {
        if (t->interval_ns < 1000000u) t->interval_ns = 1000000u;
        start_writer(t);   /* without a thread we drain from the callers */
    }
    pthread_mutex_lock(&g_mu);
    t->gnext = g_tracers;
    g_tracers = t;
    pthread_mutex_unlock(&g_mu);
    return t;
}

int sl_tracer_flush(sl_tracer *t)
{
    if (!t) return SL_EINVAL;
    if (tl_draining == t) return SL_OK;   /* from inside our own callback sink */
    return drain_all(t, tracer_now(t)) ? SL_EIO : SL_OK;
}

static void end_abandoned_all(sl_tracer *t, sl_tstate *st, uint64_t ts)
{
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
        spin_lock(&s->spin);
        sl_span *sp;
        while ((sp = s->open_head) != NULL) {
            s->open_head = sp->open_next;
            if (sp->open_next) sp->open_next->open_prev = NULL;
            sp->open_next = sp->open_prev = NULL;
            sp->flags &= ~SL_SPAN_OPEN;
            spin_unlock(&s->spin);
            rec_in r = {SL_REC_END, SL_STATUS_ABANDONED, 0, 0, ts < sp->start_ns ? sp->start_ns : ts,
                        &sp->id, NULL, NULL, NULL, 0, 0, NULL, 0};
            emit(t, st, &r);
            bump(&st->ended, 1);
            bump(&st->abandoned, 1);
            if (sp->flags & SL_SPAN_ALLOCATED) free(sp);
            spin_lock(&s->spin);
        }
        spin_unlock(&s->spin);
    }
}

int sl_tracer_close(sl_tracer *t)
{
    if (!t) return SL_EINVAL;
    if (atomic_exchange(&t->closed, 1)) return SL_ECLOSED;
    pthread_mutex_lock(&g_mu);
    for (sl_tracer **pp = &g_tracers; *pp; pp = &(*pp)->gnext) {
        if (*pp == t) {
            *pp = t->gnext;
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    stop_writer(t);
    uint64_t ts = tracer_now(t);
    sl_tstate *st = tstate(t);
    if (st) end_abandoned_all(t, st, ts);
    int e = tl_draining == t ? 0 : drain_all(t, ts);
    sl_sink_close(&t->sink);
    sl_tstate *s = atomic_load(&t->states);
    while (s) {
        sl_tstate *next = s->next;
        sl_ring_free(&s->ring);
        free(s);
        s = next;
    }
    if (tl_serial == t->serial) {
        tl_serial = 0;
        tl_state = NULL;
    }
    sl_buf_free(&t->out);
    pthread_mutex_destroy(&t->reg_mu);
    pthread_mutex_destroy(&t->drain_mu);
    pthread_mutex_destroy(&t->wmu);
    pthread_cond_destroy(&t->wcond);
    free(t->service);
    free(t->host);
    free(t);
    return e ? SL_EIO : SL_OK;
}

void sl_tracer_stats(sl_tracer *t, sl_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t) return;
    out->records = atomic_load_explicit(&t->records, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&t->bytes, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&t->wdropped, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&t->write_errors, memory_order_relaxed);
    out->last_errno = atomic_load_explicit(&t->last_errno, memory_order_relaxed);
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
        out->spans_started += atomic_load_explicit(&s->started, memory_order_relaxed);
        out->spans_ended += atomic_load_explicit(&s->ended, memory_order_relaxed);
        out->abandoned += atomic_load_explicit(&s->abandoned, memory_order_relaxed);
        out->truncated += atomic_load_explicit(&s->truncated, memory_order_relaxed);
        out->dropped += atomic_load_explicit(&s->dropped, memory_order_relaxed);
    }
    out->spans_open = out->spans_started > out->spans_ended ? out->spans_started - out->spans_ended : 0;
}

const char *sl_tracer_memory(sl_tracer *t, size_t *len)
{
    if (len) *len = 0;
    if (!t || t->sink.kind != SL_SINK_MEMORY) return NULL;
    if (tl_draining != t) drain_all(t, tracer_now(t));
    if (len) *len = t->sink.mem.len;
    return t->sink.mem.p ? t->sink.mem.p : "";
}

void sl_tracer_memory_clear(sl_tracer *t)
{
    if (!t || t->sink.kind != SL_SINK_MEMORY) return;
    if (tl_draining == t) {
        t->sink.mem.len = 0;
        return;
    }
    pthread_mutex_lock(&t->drain_mu);
    t->sink.mem.len = 0;
    pthread_mutex_unlock(&t->drain_mu);
}

/* ===== SPANS ===== */

int sl_span_begin(sl_tracer *t, sl_span *span, const char *name, size_t name_len,
                  const sl_start_opts *opts)
{
    if (!t || !span || (!name && name_len)) return SL_EINVAL;
    if (atomic_load_explicit(&t->closed, memory_order_relaxed)) return SL_ECLOSED;
    sl_tstate *st = tstate(t);
    if (!st) return SL_ENOMEM;
    uint64_t ts = opts && opts->ts ? opts->ts : tracer_now(t);
    const sl_context *p = opts ? opts->parent : NULL;
    uint32_t flags = SL_SPAN_OPEN;
    uint8_t rflags = 0;
    span->tracer = t;
    sl_idgen_next_fast(&st->gen, ts, &span->id);
    if (p && !sl_id_is_zero(&p->trace)) {
        span->parent = *p;
        span->trace = p->trace;
        flags |= SL_SPAN_HAS_PARENT;
        rflags = SL_RF_HAS_PARENT | (p->remote ? SL_RF_PARENT_REMOTE : 0);
    } else {
        memset(&span->parent, 0, sizeof span->parent);
        span->trace = span->id;
    }
    span->start_ns = ts;
    span->lane = opts && opts->lane ? opts->lane : st->lane;
    span->owner = st;
    span->open_prev = NULL;
    spin_lock(&st->spin);
    span->open_next = st->open_head;
    if (st->open_head) st->open_head->open_prev = span;
    st->open_head = span;
    span->flags = flags;
    spin_unlock(&st->spin);
    bump(&st->started, 1);
    rec_in r = {SL_REC_START, 0, rflags, span->lane, ts, &span->id, &span->trace, &span->parent.span,
                name, name_len, t->lim.max_name_len,
                opts ? opts->attrs : NULL, opts ? opts->nattrs : 0};
    return emit(t, st, &r);
}

sl_span *sl_span_start(sl_tracer *t, const char *name, const sl_span *parent)
{
    if (!t || !name) return NULL;
    sl_span *s = malloc(sizeof *s);
    if (!s) return NULL;
    sl_context ctx;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    if (parent) {
        sl_span_context(parent, &ctx);
        o.parent = &ctx;
    }
    if (sl_span_begin(t, s, name, strlen(name), &o) != SL_OK) {
        /* begin fails before linking the span, except for a dropped record */
        if (s->flags & SL_SPAN_OPEN) {
            s->flags |= SL_SPAN_ALLOCATED;
            return s;
        }
        free(s);
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

int sl_span_end(sl_span *span, sl_span_status status, const char *error, size_t error_len)
{
    if (!span || (unsigned)status > SL_STATUS_ABANDONED || (!error && error_len)) return SL_EINVAL;
    if (!(span->flags & SL_SPAN_OPEN)) return SL_ESTATE;
    sl_tracer *t = span->tracer;
    sl_tstate *owner = span->owner;
    spin_lock(&owner->spin);
    if (!(span->flags & SL_SPAN_OPEN)) {
        spin_unlock(&owner->spin);
        return SL_ESTATE;
    }
    if (span->open_prev) span->open_prev->open_next = span->open_next;
    else owner->open_head = span->open_next;
    if (span->open_next) span->open_next->open_prev = span->open_prev;
    span->flags &= ~SL_SPAN_OPEN;
    spin_unlock(&owner->spin);
    sl_tstate *st = tstate(t);
    int rc = SL_ENOMEM;
    if (st) {
        uint64_t ts = tracer_now(t);
        if (ts < span->start_ns) ts = span->start_ns;
        int err = status == SL_STATUS_ERROR;
        rec_in r = {SL_REC_END, (uint8_t)status, 0, 0, ts, &span->id, NULL, NULL,
                    err ? (error ? error : "") : NULL, err ? error_len : 0, t->lim.max_value_len,
                    NULL, 0};
        rc = emit(t, st, &r);
        bump(&st->ended, 1);
        if (status == SL_STATUS_ABANDONED) bump(&st->abandoned, 1);
    }
    if (span->flags & SL_SPAN_ALLOCATED) free(span);
    return rc;
}
