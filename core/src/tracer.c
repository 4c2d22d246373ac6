/*
 * tracer.c: the tracer: configuration, per-thread state, opening and
 * closing, exit and fork handling, counters (the record path and the span
 * API are in span.c, draining and the writer thread in drain.c).
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
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tracer_impl.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SL_TSAN 1
#endif
/* membarrier(2) commands (linux/membarrier.h, spelled out: old headers) */
#if defined(__linux__) && defined(SYS_membarrier) && !defined(SL_TSAN)
#define SL_MEMBARRIER 1
#define SL_MB_PRIVATE_EXPEDITED (1 << 3)
#define SL_MB_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#endif

/* ===== STATE ===== */

SL_TLS_MODEL _Thread_local sl_tls sl_tl;

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
static int g_asymmetric;   /* membarrier registered (global_init): lists start unshared */

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
            atomic_init(&st->shared, !g_asymmetric);
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

/* ===== OPEN LISTS (the other side of open_lock_own, tracer_impl.h) ===== */

/* A full memory barrier on every running thread of the process. */
static int barrier_everywhere(void)
{
#ifdef SL_MEMBARRIER
    if (syscall(SYS_membarrier, SL_MB_PRIVATE_EXPEDITED, 0, 0) == 0) return 0;
    /* a forked child may not have inherited the registration */
    if (syscall(SYS_membarrier, SL_MB_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 &&
        syscall(SYS_membarrier, SL_MB_PRIVATE_EXPEDITED, 0, 0) == 0)
        return 0;
#endif
    return -1;
}

/* spin held: from now on the owner takes the spinlock too */
static void make_shared(sl_tstate *s)
{
    if (atomic_load_explicit(&s->shared, memory_order_relaxed)) return;
    atomic_store_explicit(&s->shared, 1, memory_order_relaxed);
    /* registered at start, so this does not fail; if it did, the fence and
     * the wait for owner_busy leave only a store still in flight uncovered */
    if (barrier_everywhere() != 0) atomic_thread_fence(memory_order_seq_cst);
}

void sl_open_lock_other(sl_tstate *s)
{
    spin_lock(&s->spin);
    make_shared(s);
    for (unsigned n = 1; atomic_load_explicit(&s->owner_busy, memory_order_acquire); n++) {
        if (n % 256 == 0) sched_yield();   /* the owner may be off its CPU */
    }
}

/* sleeps 1 ms (async-signal-safe) */
static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

int sl_open_trylock_other(sl_tstate *s)
{
    int locked = 0;
    for (int i = 0; i < 1000 && !locked; i++) {
        if (!atomic_exchange_explicit(&s->spin, 1, memory_order_acquire)) locked = 1;
        else if (i % 100 == 99) nap();
    }
    if (!locked) return 0;
    make_shared(s);
    for (int i = 0; atomic_load_explicit(&s->owner_busy, memory_order_acquire); i++) {
        if (i == 1000) {
            spin_unlock(&s->spin);   /* held by the interrupted thread */
            return 0;
        }
        if (i % 100 == 99) nap();
    }
    return 1;
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
    cfg->block_when_full = -1;
    cfg->close_timeout_ms = 1000;
    cfg->write_meta = 1;
    cfg->limits.max_attrs = 64;
    cfg->limits.max_value_len = 4096;
    cfg->limits.max_name_len = 256;
}

/* Final drain (close, exit): what the output does not take once it has
 * taken nothing for close_timeout_ns is lost. */
static int drain_final(sl_tracer *t, uint64_t ts)
{
    int e = sl_drain_waiting(t, ts, t->close_timeout_ns);
    if (e == EAGAIN) {
        pthread_mutex_lock(&t->drain_mu);
        add(&t->wdropped, sl_drain_discard(t));
        pthread_mutex_unlock(&t->drain_mu);
        for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
            sl_ring *r = &s->ring;
            uint64_t n = 0, tail = atomic_load(&r->tail), head = atomic_load(&r->head);
            while (tail < head) {
                const char *rec = r->mem + (tail & r->mask);
                uint32_t size;
                memcpy(&size, rec, 4);
                n += (uint8_t)rec[4] != SL_REC_PAD;
                tail += size;
            }
            atomic_store(&r->tail, tail);
            add(&t->wdropped, n);
        }
    }
    return e;
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
        sl_stop_writer(t);
        drain_final(t, tracer_now(t));
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
        if (sl_tl_draining != t) sl_drain_discard(t);
        if (t->rec) sl_recorder_clear(t->rec);   /* the parent's to dump */
        atomic_store(&t->drain_owner, 0);
        for (sl_tstate *s = atomic_load(&t->states); s; s = s->next) {
            atomic_store(&s->spin, 0);
            atomic_store(&s->owner_busy, 0);   /* a thread that was in its list is gone */
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
#ifdef SL_MEMBARRIER
    g_asymmetric = syscall(SYS_membarrier, SL_MB_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
    atexit(at_exit_flush);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void tracer_free(sl_tracer *t)
{
    sl_sink_close(&t->sink);
    if (t->rec) sl_dump_signal_release();
    sl_recorder_free(t->rec);
    free(t->service);
    free(t->host);
    free(t);
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
    if (cfg->recorder_size && cfg->sink != SL_SINK_PATH && cfg->sink != SL_SINK_FD) {
        sl_set_error(err, SL_EINVAL, 0, "a flight recorder needs a path or fd sink");
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
    t->always = cfg->flush == SL_FLUSH_ALWAYS && !cfg->recorder_size;
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
    t->close_timeout_ns = (uint64_t)cfg->close_timeout_ms * 1000000u;
    int rc = sl_sink_open(&t->sink, cfg, err);
    if (rc != SL_OK) {
        free(t);
        return NULL;
    }
    /* a full ring: the recording thread drains it itself (the encoding work
     * is bounded), but waits for room in the output only when told to or
     * when no reader can stall it (a regular file, a callback, memory) */
    t->block = cfg->block_when_full != 0;
    t->producer_patience = cfg->block_when_full > 0 || !t->sink.chunked ? SL_WAIT_FOREVER : SL_WAIT_NONE;
    if (cfg->service) t->service = strdup(cfg->service);
    if (cfg->host) {
        t->host = strdup(cfg->host);
    } else {
        char h[256] = "";
        gethostname(h, sizeof h - 1);
        t->host = strdup(h);
    }
    if (cfg->recorder_size && (t->rec = sl_recorder_new(cfg->recorder_size))) sl_dump_signal_install();
    if ((cfg->service && !t->service) || !t->host || (cfg->recorder_size && !t->rec)) {
        tracer_free(t);
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
    t->dumps_seen = atomic_load(&sl_dump_requests);
    /* written right away so the meta record is the stream's first */
    if (cfg->write_meta) sl_drain_meta(t, now);
    int want_bg = cfg->background < 0 ? (cfg->sink == SL_SINK_PATH || cfg->sink == SL_SINK_FD ||
                                         cfg->sink == SL_SINK_OTLP)
                                      : cfg->background != 0;
    /* callback and memory sinks are only ever touched by the tracer's callers */
    if (cfg->sink == SL_SINK_CALLBACK || cfg->sink == SL_SINK_MEMORY || t->always) want_bg = 0;
    if (t->rec) want_bg = 1;   /* it serves SIGUSR1 */
    if (want_bg) {
        if (t->interval_ns < 1000000u) t->interval_ns = 1000000u;
        sl_start_writer(t);   /* without a thread we drain from the callers */
    }
    pthread_mutex_lock(&g_mu);
    t->gnext = g_tracers;
    g_tracers = t;
    pthread_mutex_unlock(&g_mu);
    if (cfg->sink == SL_SINK_PATH || cfg->sink == SL_SINK_FD) sl_emergency_register(t);
    return t;
}

/* SL_OK, or what went wrong since the last report: a write error (SL_EIO),
 * a stalled output (SL_ETIMEDOUT). */
static int report(sl_tracer *t, int e)
{
    int unreported = atomic_exchange(&t->unreported_errno, 0);
    if (unreported || (e && e != EAGAIN)) return SL_EIO;
    return e == EAGAIN ? SL_ETIMEDOUT : SL_OK;
}

int sl_tracer_flush(sl_tracer *t)
{
    if (!t) return SL_EINVAL;
    if (sl_tl_draining == t) return SL_OK;   /* from inside our own callback sink */
    uint64_t patience = t->producer_patience == SL_WAIT_FOREVER ? SL_WAIT_FOREVER : t->close_timeout_ns;
    return report(t, sl_drain_waiting(t, tracer_now(t), patience));
}

int sl_tracer_dump(sl_tracer *t, const char *path)
{
    if (!t || !t->rec) return SL_EINVAL;
    if (sl_tl_draining == t) return SL_ESTATE;
    uint64_t patience = t->close_timeout_ns;
    int e = sl_drain_waiting(t, tracer_now(t), patience);
    if (e == EAGAIN) return SL_ETIMEDOUT;
    pthread_mutex_lock(&t->drain_mu);
    e = sl_recorder_dump(t, path, patience);
    pthread_mutex_unlock(&t->drain_mu);
    if (e == ETIMEDOUT) return SL_ETIMEDOUT;
    if (e) {
        if (!path) atomic_store(&t->unreported_errno, 0);   /* told here */
        atomic_store_explicit(&t->last_errno, e, memory_order_relaxed);
        return SL_EIO;
    }
    return SL_OK;
}

int sl_tracer_close(sl_tracer *t)
{
    return sl_tracer_close_stats(t, NULL);
}

int sl_tracer_close_stats(sl_tracer *t, sl_stats *final)
{
    if (!t) return SL_EINVAL;
    if (atomic_exchange(&t->closed, 1)) return SL_ECLOSED;
    sl_emergency_unregister(t);
    pthread_mutex_lock(&g_mu);
    for (sl_tracer **pp = &g_tracers; *pp; pp = &(*pp)->gnext) {
        if (*pp == t) {
            *pp = t->gnext;
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    sl_stop_writer(t);
    uint64_t ts = tracer_now(t);
    sl_tstate *st = tstate(t);
    if (st) sl_abandon_open_spans(t, st, ts);
    int e = sl_tl_draining == t ? 0 : drain_final(t, ts);
    int rc = report(t, e);
    if (final) sl_tracer_stats(t, final);
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
    sl_buf_free(&t->ends);
    pthread_mutex_destroy(&t->reg_mu);
    pthread_mutex_destroy(&t->drain_mu);
    pthread_mutex_destroy(&t->wmu);
    pthread_cond_destroy(&t->wcond);
    tracer_free(t);
    return rc;
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
    out->overwritten = atomic_load_explicit(&t->overwritten, memory_order_relaxed);
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
    return t->sink.mem.ptr ? t->sink.mem.ptr : "";
}

void sl_tracer_memory_clear(sl_tracer *t)
{
    if (!t || t->sink.kind != SL_SINK_MEMORY) return;
    if (sl_tl_draining == t) {
        t->sink.mem.len = 0;
        if (t->sink.mem.ptr) t->sink.mem.ptr[0] = '\0';
        return;
    }
    pthread_mutex_lock(&t->drain_mu);
    t->sink.mem.len = 0;
    if (t->sink.mem.ptr) t->sink.mem.ptr[0] = '\0';
    pthread_mutex_unlock(&t->drain_mu);
}

