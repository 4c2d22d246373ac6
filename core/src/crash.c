/*
 * crash.c: what a dying process still writes: the emergency flush, the
 * opt-in crash and termination handlers, and the SIGUSR1 dump request of
 * the flight recorder.
 *
 * Key idea: a signal may land while the interrupted thread holds any lock
 * and is halfway through any data structure, so the emergency flush uses
 * nothing that can be held or half-done: tracers are found in a fixed array
 * of atomic slots (not the mutex-guarded list), each tracer's drain is
 * claimed with a compare-and-swap on its owner word (a writer thread in the
 * middle of a batch gets 0.5 s to finish; the thread that crashed inside a
 * drain already owns it), records are encoded into a static buffer that
 * never grows, only committed ring records are read, and a span list whose
 * spinlock stays taken is skipped. Calls are limited to write, poll, getpid,
 * clock_gettime, nanosleep, sigaction and raise, plus the encoders, which
 * only format into the buffer they are given.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ring_rec.h"
#include "tracer_impl.h"

#define SLOTS 64
#define EMERGENCY_BUF (64u * 1024u)
#define CLAIM_WAIT_MS 500
#define WRITE_WAIT_NS 1000000000u

static _Atomic(sl_tracer *) g_slots[SLOTS];
static _Atomic uintptr_t g_flushing;   /* the thread in sl_emergency_flush (&sl_tl), 0: none */
static char g_mem[EMERGENCY_BUF];
_Atomic uint32_t sl_dump_requests;

/* ===== WHICH TRACERS ===== */

void sl_emergency_register(sl_tracer *t)
{
    for (int i = 0; i < SLOTS; i++) {
        sl_tracer *none = NULL;
        if (atomic_compare_exchange_strong(&g_slots[i], &none, t)) return;
    }
    /* more than SLOTS tracers open: the extra ones are not flushed by signals */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* After this returns, no emergency flush uses t (close frees it next). */
void sl_emergency_unregister(sl_tracer *t)
{
    for (int i = 0; i < SLOTS; i++) {
        sl_tracer *same = t;
        atomic_compare_exchange_strong(&g_slots[i], &same, NULL);
    }
    uintptr_t me = (uintptr_t)&sl_tl;
    for (;;) {
        uintptr_t who = atomic_load(&g_flushing);
        if (who == 0 || who == me) return;
        sleep_ms(1);
    }
}

/* ===== EMERGENCY FLUSH ===== */

typedef struct emergency {
    sl_tracer *t;
    sl_buf buf;          /* g_mem, fixed */
    uint64_t records;
} emergency;

static void put_out(emergency *em)
{
    sl_sink *s = &em->t->sink;
    size_t w = 0;
    if (s->torn && em->t->format == SL_JSONL && sl_sink_write(s, "\n", 1, WRITE_WAIT_NS, &w) == 0)
        s->torn = 0;
    if (em->buf.len) sl_sink_write(s, em->buf.ptr, em->buf.len, WRITE_WAIT_NS, &w);
    em->buf.len = 0;
}

/* Appends bytes, writing out first when they would not fit. */
static void put_bytes(emergency *em, const char *p, size_t n)
{
    if (em->buf.cap - em->buf.len < n) put_out(em);
    if (em->buf.cap - em->buf.len < n) {
        size_t w = 0;
        sl_sink_write(&em->t->sink, p, n, WRITE_WAIT_NS, &w);   /* too big to gather */
        return;
    }
    memcpy(em->buf.ptr + em->buf.len, p, n);
    em->buf.len += n;
}

static void put_record(emergency *em, const sl_rview *v)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = em->t->format == SL_MSGPACK ? sl_msgpack_encode(&em->buf, v) : sl_jsonl_encode(&em->buf, v);
        if (rc == 0) {
            em->records++;
            return;
        }
        put_out(em);   /* no room: write what is gathered and try once more */
    }
}

static void put_meta(emergency *em)
{
    sl_tracer *t = em->t;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sl_meta m = {(int64_t)getpid(), t->service, t->host,
                 (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, 0};
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = t->format == SL_MSGPACK ? sl_msgpack_meta(&em->buf, &m) : sl_jsonl_meta(&em->buf, &m);
        if (rc == 0) return;
        put_out(em);
    }
}

/* Claims t's drain: 1 when this thread may use the batch and the rings. */
static int claim(sl_tracer *t, uintptr_t me, int *was_mine)
{
    *was_mine = 0;
    for (int waited = 0;; waited++) {
        uintptr_t none = 0;
        if (atomic_compare_exchange_strong(&t->drain_owner, &none, me)) return 1;
        if (none == me) {
            *was_mine = 1;   /* the signal interrupted our own drain */
            return 1;
        }
        if (waited >= CLAIM_WAIT_MS) return 0;
        sleep_ms(1);
    }
}

/* The batch: only records that were encoded whole. */
static void keep_batch(emergency *em)
{
    sl_tracer *t = em->t;
    size_t n = t->ends.len / sizeof(uint32_t);
    uint32_t start = 0, end;
    for (size_t i = 0; i < n; i++) {
        memcpy(&end, t->ends.ptr + i * sizeof end, sizeof end);
        if (end > t->out.len || end < start) break;
        if (t->rec) {
            sl_recorder_put(t->rec, t->out.ptr + start, end - start);
        } else {
            put_bytes(em, t->out.ptr + start, end - start);
            em->records++;
        }
        start = end;
    }
    t->out.len = 0;
    t->ends.len = 0;
}

static void put_recorder(emergency *em)
{
    const char *a, *b;
    size_t alen, blen;
    while (sl_recorder_take(em->t->rec, &a, &alen, &b, &blen)) {
        if (em->buf.cap - em->buf.len < alen + blen) put_out(em);
        if (em->buf.cap - em->buf.len >= alen + blen) {
            memcpy(em->buf.ptr + em->buf.len, a, alen);
            memcpy(em->buf.ptr + em->buf.len + alen, b, blen);
            em->buf.len += alen + blen;
        } else {
            put_bytes(em, a, alen);
            put_bytes(em, b, blen);
        }
        em->records++;
    }
}

/* A ring record: encoded into the output, or (flight recorder) into the
 * recorder, which keeps the newest whole records of the lot. */
static char g_one[8192];

static void keep_record(emergency *em, const sl_rview *v)
{
    if (!em->t->rec) {
        put_record(em, v);
        return;
    }
    sl_buf one = {g_one, 0, sizeof g_one, 1};
    int rc = em->t->format == SL_MSGPACK ? sl_msgpack_encode(&one, v) : sl_jsonl_encode(&one, v);
    if (rc == 0) sl_recorder_put(em->t->rec, one.ptr, one.len);
}

static void keep_rings(emergency *em)
{
    for (sl_tstate *s = atomic_load(&em->t->states); s; s = s->next) {
        sl_ring *r = &s->ring;
        uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);
        while (tail < head) {
            const char *rec = r->mem + (tail & r->mask);
            uint32_t size;
            memcpy(&size, rec, 4);
            if (size < 8 || size > r->cap) break;   /* a damaged ring: stop here */
            if ((uint8_t)rec[4] != SL_REC_PAD) {
                sl_rview v;
                sl_rview_decode(rec, &v);
                keep_record(em, &v);
            }
            tail += size;
        }
        atomic_store(&r->tail, tail);
    }
}

/* An "abandoned" end for every open span whose list we can lock. */
static void put_abandoned(emergency *em)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ts = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    for (sl_tstate *s = atomic_load(&em->t->states); s; s = s->next) {
        /* held by the interrupted thread: leave those open */
        if (!sl_open_trylock_other(s)) continue;
        for (sl_span *sp = s->open_head; sp; sp = sp->open_next) {
            sl_rview v;
            memset(&v, 0, sizeof v);
            v.type = SL_REC_END;
            v.status = SL_STATUS_ABANDONED;
            v.ts = ts < sp->start_ns ? sp->start_ns : ts;
            v.id = sp->id;
            v.text = "";
            put_record(em, &v);
            sp->flags &= ~SL_SPAN_OPEN;   /* a later end is SL_ESTATE; nothing is freed here */
        }
        s->open_head = NULL;
        atomic_store_explicit(&s->spin, 0, memory_order_release);
    }
}

static uint64_t flush_tracer(sl_tracer *t, int abandon, uintptr_t me)
{
    emergency em = {t, {g_mem, 0, sizeof g_mem, 1}, 0};
    uint64_t old_give_up = atomic_load(&t->sink.give_up_at);
    atomic_store(&t->emergency, 1);
    atomic_store(&t->sink.give_up_at, 1);   /* a writer waiting for room stops now */
    int was_mine;
    int owned = claim(t, me, &was_mine);
    atomic_store(&t->sink.give_up_at, 0);
    if (owned) {
        keep_batch(&em);
        keep_rings(&em);
        if (t->rec) {
            if (t->write_meta) put_meta(&em);
            put_recorder(&em);
        }
    }
    if (abandon) put_abandoned(&em);
    put_out(&em);
    atomic_store(&t->sink.give_up_at, old_give_up);
    atomic_store(&t->emergency, 0);
    if (owned && !was_mine) atomic_store(&t->drain_owner, 0);
    return em.records;
}

uint64_t sl_emergency_flush(int abandon)
{
    uintptr_t me = (uintptr_t)&sl_tl, none = 0;
    if (!atomic_compare_exchange_strong(&g_flushing, &none, me)) return 0;
    int saved = errno;
    uint64_t n = 0;
    for (int i = 0; i < SLOTS; i++) {
        sl_tracer *t = atomic_load(&g_slots[i]);
        if (t && !atomic_load(&t->closed)) n += flush_tracer(t, abandon, me);
    }
    errno = saved;
    atomic_store(&g_flushing, 0);
    return n;
}

/* ===== HANDLERS ===== */

typedef struct handled {
    int signo;
    _Atomic int installed;
    struct sigaction prev;
} handled;

static handled g_handled[] = {
    {.signo = SIGSEGV}, {.signo = SIGBUS}, {.signo = SIGABRT}, {.signo = SIGFPE}, {.signo = SIGILL},
    {.signo = SIGTERM}, {.signo = SIGHUP}, {.signo = SIGINT}, {.signo = SIGQUIT}, {.signo = SIGUSR2},
};
#define NHANDLED (sizeof g_handled / sizeof g_handled[0])

static handled *find(int signo)
{
    for (size_t i = 0; i < NHANDLED; i++)
        if (g_handled[i].signo == signo) return &g_handled[i];
    return NULL;
}

/* Flush, then the disposition from before us, and the signal once more:
 * blocked while we run, it is delivered as we return (a fault re-executes
 * its instruction and faults again: the same end either way). */
static void on_fatal(int signo, siginfo_t *info, void *uctx)
{
    (void)info;
    (void)uctx;
    int saved = errno;
    sl_emergency_flush(1);
    handled *h = find(signo);
    if (h) {
        sigaction(signo, &h->prev, NULL);
        atomic_store(&h->installed, 0);
    } else {
        signal(signo, SIG_DFL);
    }
    raise(signo);
    errno = saved;
}

/* A stack to run on when the crash is a stack overflow (only for the thread
 * that installs the handler, and only if it has none). */
static char g_altstack[64 * 1024];

static void ensure_altstack(void)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE)) return;
    stack_t ss = {g_altstack, 0, sizeof g_altstack};
    sigaltstack(&ss, NULL);
}

int sl_signal_flush_install(int signo)
{
    handled *h = find(signo);
    if (!h) return SL_EINVAL;
    if (atomic_load(&h->installed)) return SL_OK;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, &h->prev) != 0) return SL_EIO;
    atomic_store(&h->installed, 1);
    return SL_OK;
}

int sl_crash_handler_install(void)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    ensure_altstack();
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        if (sl_signal_flush_install(fatal[i]) != SL_OK) return SL_EIO;
    return SL_OK;
}

static void on_dump_request(int signo)
{
    (void)signo;
    atomic_fetch_add(&sl_dump_requests, 1);
}

/* Flight recorders open; the SIGUSR1 handler is ours while it is > 0. */
static pthread_mutex_t g_dump_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_dump_users, g_dump_ours;

void sl_dump_signal_install(void)
{
    pthread_mutex_lock(&g_dump_mu);
    if (g_dump_users++ == 0) {
        struct sigaction cur;
        /* a program that handles (or ignores) SIGUSR1 itself is left alone */
        if (sigaction(SIGUSR1, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL && !(cur.sa_flags & SA_SIGINFO)) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_dump_request;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            g_dump_ours = sigaction(SIGUSR1, &sa, NULL) == 0;
        }
    }
    pthread_mutex_unlock(&g_dump_mu);
}

/* The last flight recorder closed: SIGUSR1 gets its default action back
 * (unless the program has put its own handler there since). */
void sl_dump_signal_release(void)
{
    pthread_mutex_lock(&g_dump_mu);
    if (g_dump_users > 0 && --g_dump_users == 0 && g_dump_ours) {
        struct sigaction cur;
        if (sigaction(SIGUSR1, NULL, &cur) == 0 && cur.sa_handler == on_dump_request) signal(SIGUSR1, SIG_DFL);
        g_dump_ours = 0;
    }
    pthread_mutex_unlock(&g_dump_mu);
}
