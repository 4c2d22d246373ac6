/*
 * tracer_impl.h: the tracer's private state, shared by tracer.c (lifecycle,
 * thread states, draining, the writer thread) and span.c (the record path).
 *
 * Key idea: everything the hot path touches is reachable from the calling
 * thread's own sl_tstate, found through a thread-local cache keyed by the
 * tracer's serial number; the rest is behind the drain mutex.
 */
#ifndef SL_TRACER_IMPL_H
#define SL_TRACER_IMPL_H

#include <pthread.h>

#include "internal.h"

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
    int need_meta, write_meta;
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


/* The calling thread's cache, one TLS block. In a shared object (the Lua
 * module) a thread-local costs a __tls_get_addr call per access unless it
 * uses the initial-exec model: glibc keeps static TLS room for dlopen'ed
 * objects (these 24 bytes fit it); other C libraries get the default. */
#if defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
#define SL_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define SL_TLS_MODEL
#endif
typedef struct sl_tls {
    uint64_t serial;               /* the tracer whose state is cached */
    sl_tstate *state;
    sl_tracer *draining;           /* re-entry guard for callback sinks */
} sl_tls;
extern SL_HIDDEN SL_TLS_MODEL _Thread_local sl_tls sl_tl;
#define sl_tl_serial (sl_tl.serial)
#define sl_tl_state (sl_tl.state)
#define sl_tl_draining (sl_tl.draining)

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


/* The calling thread's state in t, created or adopted on first use. */
sl_tstate *sl_tstate_bind(sl_tracer *t);

static inline sl_tstate *tstate(sl_tracer *t)
{
    sl_tls *tl = &sl_tl;
    if (__builtin_expect(t->serial == tl->serial, 1)) return tl->state;
    return sl_tstate_bind(t);
}

/* Drains every ring into the sink; 0 or the errno of a failed write. */
int sl_drain_all(sl_tracer *t, uint64_t ts);
/* The same with one more (out-of-ring) record after everything buffered. */
void sl_drain_with(sl_tracer *t, const char *rec);
void sl_kick_writer(sl_tracer *t);
/* Ends every open span of t as abandoned, recording on st (span.c). */
void sl_abandon_open_spans(sl_tracer *t, sl_tstate *st, uint64_t ts);

#endif
