/*
 * tracer.c: the tracer: configuration, per-thread state, draining, the
 * writer thread, exit and fork handling, counters (the record path and the
 * span API are in span.c).
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

#include "tracer_impl.h"

/* ===== STATE ===== */

_Thread_local sl_tls sl_tl;

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

sl_tstate *sl_tstate_bind(sl_tracer *t)
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
        sl_tl_serial = t->serial;
        sl_tl_state = st;
    }
    return st;
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
int sl_drain_all(sl_tracer *t, uint64_t ts)
{
    pthread_mutex_lock(&t->drain_mu);
    sl_tracer *outer = sl_tl_draining;
    sl_tl_draining = t;
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
    sl_tl_draining = outer;
    pthread_mutex_unlock(&t->drain_mu);
    sl_clock_refine();
    return e;
}

void sl_drain_with(sl_tracer *t, const char *rec)
{
    pthread_mutex_lock(&t->drain_mu);
    sl_tracer *outer = sl_tl_draining;
    sl_tl_draining = t;
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) drain_ring(t, s);
    encode_record(t, rec);
    write_out(t);
    sl_tl_draining = outer;
    pthread_mutex_unlock(&t->drain_mu);
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
        sl_drain_all(t, tracer_now(t));
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

void sl_kick_writer(sl_tracer *t)
{
    if (atomic_load_explicit(&t->kick_pending, memory_order_relaxed)) return;
    atomic_store_explicit(&t->kick_pending, 1, memory_order_relaxed);
    pthread_mutex_lock(&t->wmu);
    t->wkick = 1;
    pthread_cond_signal(&t->wcond);
    pthread_mutex_unlock(&t->wmu);
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
        if (t->sink.kind != SL_SINK_PATH && t->sink.kind != SL_SINK_FD && t->sink.kind != SL_SINK_OTLP)
            continue;
        if (sl_tl_draining == t) continue;
        stop_writer(t);
        sl_drain_all(t, tracer_now(t));
        if (t->sink.kind == SL_SINK_OTLP) sl_otlp_sink_exit(t->sink.otlp);
    }
    pthread_mutex_unlock(&g_mu);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&g_mu);
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        if (sl_tl_draining != t) pthread_mutex_lock(&t->drain_mu);
        pthread_mutex_lock(&t->reg_mu);
    }
}

static void fork_parent(void)
{
    for (sl_tracer *t = g_tracers; t; t = t->gnext) {
        pthread_mutex_unlock(&t->reg_mu);
        if (sl_tl_draining != t) pthread_mutex_unlock(&t->drain_mu);
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
        if (sl_tl_draining != t) pthread_mutex_unlock(&t->drain_mu);
        pthread_mutex_init(&t->wmu, NULL);
        pthread_cond_init(&t->wcond, NULL);
        t->writer_started = 0;
        t->wstop = t->wkick = 0;
        atomic_store(&t->kick_pending, 0);
        atomic_store(&t->bg, 0);
        if (sl_tl_draining != t) {
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
        if (t->write_meta && t->sink.kind != SL_SINK_MEMORY) t->need_meta = 1;
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
    t->write_meta = cfg->write_meta != 0;
    if (cfg->write_meta) {
        /* written right away so the meta record is the stream's first */
        pthread_mutex_lock(&t->drain_mu);
        encode_meta(t, now);
        write_out(t);
        pthread_mutex_unlock(&t->drain_mu);
    }
    int want_bg = cfg->background < 0 ? (cfg->sink == SL_SINK_PATH || cfg->sink == SL_SINK_FD ||
                                         cfg->sink == SL_SINK_OTLP)
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
    if (sl_tl_draining == t) return SL_OK;   /* from inside our own callback sink */
    return sl_drain_all(t, tracer_now(t)) ? SL_EIO : SL_OK;
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
    if (st) sl_abandon_open_spans(t, st, ts);
    int e = sl_tl_draining == t ? 0 : sl_drain_all(t, ts);
    sl_sink_close(&t->sink);
    sl_tstate *s = atomic_load(&t->states);
    while (s) {
        sl_tstate *next = s->next;
        sl_ring_free(&s->ring);
        free(s);
        s = next;
    }
    if (sl_tl_serial == t->serial) {
        sl_tl_serial = 0;
        sl_tl_state = NULL;
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
    if (sl_tl_draining != t) sl_drain_all(t, tracer_now(t));
    if (len) *len = t->sink.mem.len;
    return t->sink.mem.p ? t->sink.mem.p : "";
}

void sl_tracer_memory_clear(sl_tracer *t)
{
    if (!t || t->sink.kind != SL_SINK_MEMORY) return;
    if (sl_tl_draining == t) {
        t->sink.mem.len = 0;
        if (t->sink.mem.p) t->sink.mem.p[0] = '\0';
        return;
    }
    pthread_mutex_lock(&t->drain_mu);
    t->sink.mem.len = 0;
    if (t->sink.mem.p) t->sink.mem.p[0] = '\0';
    pthread_mutex_unlock(&t->drain_mu);
}

