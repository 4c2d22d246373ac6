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
#include "json.h"

typedef struct sl_tstate {
    sl_ring ring;
    sl_idgen gen;
    uint32_t lane;
    pthread_t thread;
    int dead;                      /* its thread exited: another may adopt it (reg_mu) */
    /* the open list and its lock (open_lock_own, sl_open_lock_other) */
    _Atomic int spin;              /* taken by other threads, and by the owner once shared */
    _Atomic int owner_busy;        /* the owner is in the list without the spinlock */
    _Atomic int shared;            /* another thread has taken the list: the owner locks too */
    sl_span *open_head;
    /* written only by the owning thread */
    _Atomic uint64_t started, ended, abandoned, truncated, dropped;
    struct sl_tstate *next;        /* immutable once published */
} sl_tstate;

struct sl_tracer {
    uint64_t serial;
    sl_sink sink;
    sl_format format;
    int always;
    int block;                     /* a full ring waits for the writer (else: drop, count) */
    uint64_t producer_patience;    /* how long recording threads wait for a stalled output */
    uint64_t close_timeout_ns;     /* close, exit and flush wait at most this long for room */
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
    sl_buf out;                    /* encoded records not written yet (a stalled output keeps
                                      them here: the rings fill up behind them) */
    sl_buf ends;                   /* uint32 end offset in out of each record */
    sl_json_ts_cache ts_cache;     /* the JSONL encoder's last timestamp digits */
    uint64_t patience;             /* the drain under way waits this long for room */
    int need_meta, write_meta;
    uint64_t dropped_told;         /* the dropped count the stream was last told */
    struct sl_recorder *rec;       /* flight recorder: records stay in memory until a dump */
    uint32_t dumps_seen;           /* SIGUSR1 requests served (sl_dump_requests) */
    _Atomic uintptr_t drain_owner; /* the draining thread (its &sl_tl), 0: none */
    _Atomic int emergency;         /* a signal handler is writing: drains stop */
    _Atomic uint64_t last_drain_ts;
    _Atomic uint64_t records, bytes, wdropped, write_errors, overwritten;
    _Atomic int last_errno;
    _Atomic int unreported_errno;  /* a write error flush() or close() has not returned yet */

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

/* ===== THE OPEN LIST'S LOCK ===== */

/* The owning thread (the one whose lane it is) begins and ends nearly every
 * span on its list, so it takes the list without a locked instruction
 * until another thread needs the list: it says it is busy with a plain
 * store and then reads `shared`. The first other thread to take the list
 * sets `shared` and makes every running thread of the process pass a full
 * memory barrier (membarrier(2)) before it looks at `owner_busy`: either
 * the owner saw `shared` (and takes the spinlock from then on) or its busy
 * store is visible and the other thread waits for it to go (an
 * asymmetric Dekker, as in userspace RCU). Without membarrier (or under
 * ThreadSanitizer, which cannot see it) every list starts shared. */

/* The calling thread is s's owner: returns 1 when it took the spinlock
 * (pass it to open_unlock_own). */
static inline int open_lock_own(sl_tstate *s)
{
    atomic_store_explicit(&s->owner_busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    if (__builtin_expect(!atomic_load_explicit(&s->shared, memory_order_relaxed), 1)) return 0;
    atomic_store_explicit(&s->owner_busy, 0, memory_order_relaxed);
    spin_lock(&s->spin);
    return 1;
}

static inline void open_unlock_own(sl_tstate *s, int locked)
{
    if (__builtin_expect(locked, 0)) spin_unlock(&s->spin);
    else atomic_store_explicit(&s->owner_busy, 0, memory_order_release);
}

/* Any thread, the owner too: takes s's list for good measure (close,
 * another thread's end). Unlock with spin_unlock(&s->spin). */
void sl_open_lock_other(sl_tstate *s);
/* The same for a signal handler: gives up (0) rather than wait long for a
 * list its own thread may hold. */
int sl_open_trylock_other(sl_tstate *s);

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

/* ===== DRAINING (drain.c) ===== */

/* Drains every ring into the sink, waiting for room in the output at most
 * `patience` ns at a time (SL_WAIT_*); 0, EAGAIN (records left for later:
 * the output had no room in time), or the errno of a failed write. */
int sl_drain_waiting(sl_tracer *t, uint64_t ts, uint64_t patience);
/* The recording threads' drain: waits as t->producer_patience says. */
int sl_drain_all(sl_tracer *t, uint64_t ts);
/* The same with one more (out-of-ring) record after everything buffered. */
void sl_drain_with(sl_tracer *t, const char *rec);
/* Writes the meta record first thing (sl_tracer_open). */
void sl_drain_meta(sl_tracer *t, uint64_t ts);
/* Forgets what is encoded but not written (fork child, close timeout);
 * returns how many records that was. drain_mu held. */
uint64_t sl_drain_discard(sl_tracer *t);
/* Total records lost so far (all threads, all causes). */
uint64_t sl_dropped_total(sl_tracer *t);
int sl_start_writer(sl_tracer *t);
void sl_stop_writer(sl_tracer *t);
void sl_kick_writer(sl_tracer *t);
/* Ends every open span of t as abandoned, recording on st (span.c). */
void sl_abandon_open_spans(sl_tracer *t, sl_tstate *st, uint64_t ts);

/* ===== FLIGHT RECORDER (recorder.c) ===== */

typedef struct sl_recorder sl_recorder;
sl_recorder *sl_recorder_new(size_t bytes);
void sl_recorder_free(sl_recorder *r);
/* Keeps one record, dropping the oldest whole records to make room; returns
 * how many it dropped, or -1 when the record alone is too big. */
long sl_recorder_put(sl_recorder *r, const char *data, size_t len);
/* Removes the oldest record: its bytes are a[0..alen) then b[0..blen) (the
 * record may wrap), valid until the next put. 0 when empty. */
int sl_recorder_take(sl_recorder *r, const char **a, size_t *alen, const char **b, size_t *blen);
void sl_recorder_clear(sl_recorder *r);
/* Writes what the recorder holds to t's sink, or to path (created or
 * truncated), preceded by a meta record, and empties it. drain_mu held;
 * 0 or an errno value (ETIMEDOUT: the output had no room in time). */
int sl_recorder_dump(sl_tracer *t, const char *path, uint64_t patience);

/* ===== SIGNALS (crash.c) ===== */

/* SIGUSR1 requests so far (the handler only counts; drains serve them). */
extern SL_HIDDEN _Atomic uint32_t sl_dump_requests;
/* The tracers an emergency flush writes out (path and fd sinks). */
void sl_emergency_register(sl_tracer *t);
void sl_emergency_unregister(sl_tracer *t);
/* A flight recorder opens: installs the SIGUSR1 handler if SIGUSR1 has
 * its default action. The last one to close puts the default back. */
void sl_dump_signal_install(void);
void sl_dump_signal_release(void);

#endif
