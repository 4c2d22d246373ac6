/*
 * drain.c: from the per-thread rings to the sink: encoding batches, writing
 * them whole, the writer thread, drop reports and flight-recorder dumps.
 *
 * Key idea: a batch is the encoded bytes plus the end offset of every record
 * in it, so a write can be cut at record boundaries (pieces of at most
 * PIPE_BUF bytes for pipes, sockets and terminals, which a pipe writes
 * atomically) and a failed write is accounted exactly: the records that
 * reached the output whole are counted written, the rest dropped, and a
 * record the failure tore is followed by a newline before anything else, so
 * one fault costs at most that record. An output with no room (a reader that
 * stopped reading) keeps its batch here and the rings fill up behind it: no
 * drain ever waits longer than its caller allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tracer_impl.h"

#define OUT_BATCH (256u * 1024u)

/* ===== THE BATCH (drain_mu held) ===== */

static size_t batch_records(const sl_tracer *t)
{
    return t->ends.len / sizeof(uint32_t);
}

static uint32_t batch_end(const sl_tracer *t, size_t i)
{
    uint32_t e;
    memcpy(&e, t->ends.ptr + i * sizeof e, sizeof e);
    return e;
}

/* Notes that the bytes appended since `before` are one record (or drops
 * them when the end list cannot grow). */
static inline void batch_commit(sl_tracer *t, size_t before)
{
    uint32_t e = (uint32_t)t->out.len;
    sl_buf *ends = &t->ends;
    if (__builtin_expect(ends->cap - ends->len >= sizeof e, 1)) {   /* a store, per record */
        memcpy(ends->ptr + ends->len, &e, sizeof e);
        ends->len += sizeof e;
        return;
    }
    if (t->out.len > UINT32_MAX || sl_buf_append(ends, &e, sizeof e) != 0) {
        t->out.len = before;
        add(&t->wdropped, 1);
    }
}

/* Forgets the first `bytes` of the batch (written), keeping the rest. */
static void batch_consume(sl_tracer *t, size_t bytes)
{
    size_t n = batch_records(t), first = 0;
    while (first < n && batch_end(t, first) <= bytes) first++;
    memmove(t->out.ptr, t->out.ptr + bytes, t->out.len - bytes);
    t->out.len -= bytes;
    for (size_t i = first; i < n; i++) {
        uint32_t e = batch_end(t, i) - (uint32_t)bytes;
        memcpy(t->ends.ptr + (i - first) * sizeof e, &e, sizeof e);
    }
    t->ends.len = (n - first) * sizeof(uint32_t);
}

uint64_t sl_drain_discard(sl_tracer *t)
{
    uint64_t n = batch_records(t);
    t->out.len = 0;
    t->ends.len = 0;
    return n;
}

/* The largest prefix of the batch from `from` that ends on a record
 * boundary and fits in one atomic pipe write (at least one record). */
static size_t next_piece(const sl_tracer *t, size_t from)
{
    size_t n = batch_records(t), piece = 0;
    for (size_t i = 0; i < n; i++) {
        size_t e = batch_end(t, i);
        if (e <= from) continue;
        if (e - from > PIPE_BUF && piece) break;
        piece = e - from;
        if (piece >= PIPE_BUF) break;
    }
    return piece ? piece : t->out.len - from;
}

static void count_error(sl_tracer *t, int e)
{
    add(&t->write_errors, 1);
    atomic_store_explicit(&t->last_errno, e, memory_order_relaxed);
    atomic_store_explicit(&t->unreported_errno, e, memory_order_relaxed);
}

/* Writes the batch to sink s. Returns 0, EAGAIN (no room in time: what is
 * left stays in the batch) or the errno of a failed write (what is left is
 * dropped and counted). */
static int write_batch(sl_tracer *t, sl_sink *s, uint64_t patience)
{
    if (!t->out.len) return 0;
    if (s->torn && t->format == SL_JSONL) {
        size_t nl = 0;
        int e = sl_sink_write(s, "\n", 1, patience, &nl);
        if (e == EAGAIN) return EAGAIN;
        add(&t->bytes, nl);
        if (e == 0) s->torn = 0;
    }
    size_t done = 0;
    int e = 0;
    while (done < t->out.len && !e) {
        size_t piece = s->chunked ? next_piece(t, done) : t->out.len - done;
        size_t w = 0;
        e = sl_sink_write(s, t->out.ptr + done, piece, patience, &w);
        done += w;
    }
    size_t n = batch_records(t), whole = 0;
    while (whole < n && batch_end(t, whole) <= done) whole++;
    size_t whole_bytes = whole ? batch_end(t, whole - 1) : 0;
    add(&t->records, whole);
    add(&t->bytes, done);
    if (e == EAGAIN) {
        /* what is left waits for room; a record cut by the wait keeps its
         * rest at the front, so it goes out whole */
        batch_consume(t, done);
        return EAGAIN;
    }
    if (e) {
        count_error(t, e);
        add(&t->wdropped, n - whole);
        if (done > whole_bytes) s->torn = 1;
    }
    t->out.len = 0;
    t->ends.len = 0;
    return e;
}

/* The batch goes to the flight recorder (when there is one) or the sink. */
static int flush_batch(sl_tracer *t)
{
    if (!t->rec) return write_batch(t, &t->sink, t->patience);
    size_t start = 0, n = batch_records(t);
    for (size_t i = 0; i < n; i++) {
        size_t end = batch_end(t, i);
        long over = sl_recorder_put(t->rec, t->out.ptr + start, end - start);
        if (over < 0) add(&t->wdropped, 1);
        else add(&t->overwritten, (uint64_t)over);
        start = end;
    }
    t->out.len = 0;
    t->ends.len = 0;
    return 0;
}

static void encode_meta(sl_tracer *t, uint64_t ts, uint64_t dropped)
{
    sl_meta m = {(int64_t)getpid(), t->service, t->host, ts, dropped};
    size_t before = t->out.len;
    int rc = t->format == SL_MSGPACK ? sl_msgpack_meta(&t->out, &m) : sl_jsonl_meta(&t->out, &m);
    if (rc == 0) batch_commit(t, before);
    else add(&t->wdropped, 1);
}

/* One ring record into the batch, in format fmt (constant where inlined:
 * the writer's loop below has a copy per format). */
static inline __attribute__((always_inline)) int encode_as(sl_tracer *t, const char *rec, sl_format fmt)
{
    size_t before = t->out.len;
    int rc;
    if (fmt == SL_MSGPACK) rc = sl_msgpack_encode_ring(&t->out, rec);
    else rc = sl_jsonl_encode_ring(&t->out, rec, &t->ts_cache);
    if (rc == 0) batch_commit(t, before);
    else add(&t->wdropped, 1);
    if (t->out.len >= OUT_BATCH) return flush_batch(t);
    return 0;
}

static int encode_record(sl_tracer *t, const char *rec)
{
    return encode_as(t, rec, t->format);
}

/* Encodes the ring's records until it is empty or the output stalls. The
 * tail moves after every record: an emergency flush starts where we are. */
static inline __attribute__((always_inline)) int drain_ring_as(sl_tracer *t, sl_tstate *s, sl_format fmt)
{
    sl_ring *r = &s->ring;
    /* read once: they share a cache line with what the producer writes */
    const char *mem = r->mem;
    uint64_t mask = r->mask;
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    int e = 0;
    while (tail < head && !atomic_load_explicit(&t->emergency, memory_order_relaxed)) {
        const char *rec = mem + (tail & mask);
        uint32_t size;
        memcpy(&size, rec, 4);
        int we = (uint8_t)rec[4] != SL_REC_PAD ? encode_as(t, rec, fmt) : 0;
        tail += size;
        atomic_store_explicit(&r->tail, tail, memory_order_release);
        if (we) e = we;
        if (we == EAGAIN) break;
    }
    return e;
}

static int drain_ring(sl_tracer *t, sl_tstate *s)
{
    return t->format == SL_MSGPACK ? drain_ring_as(t, s, SL_MSGPACK) : drain_ring_as(t, s, SL_JSONL);
}

uint64_t sl_dropped_total(sl_tracer *t)
{
    uint64_t n = atomic_load_explicit(&t->wdropped, memory_order_relaxed);
    for (sl_tstate *s = atomic_load(&t->states); s; s = s->next)
        n += atomic_load_explicit(&s->dropped, memory_order_relaxed);
    return n;
}

/* Takes the drain (drain_mu) and claims it where a signal handler can see
 * it: 0 when an emergency flush holds it (then the drain is skipped). */
static int drain_begin(sl_tracer *t, uint64_t patience)
{
    pthread_mutex_lock(&t->drain_mu);
    uintptr_t none = 0;
    if (!atomic_compare_exchange_strong(&t->drain_owner, &none, (uintptr_t)&sl_tl)) {
        pthread_mutex_unlock(&t->drain_mu);
        return 0;
    }
    t->patience = patience;
    return 1;
}

static void drain_end(sl_tracer *t)
{
    atomic_store(&t->drain_owner, 0);
    pthread_mutex_unlock(&t->drain_mu);
}

/* The body of a drain: what was left, the meta record, the rings, a report
 * of drops once the output takes records again, a requested dump. */
static int drain_locked(sl_tracer *t, uint64_t ts)
{
    int e = flush_batch(t);
    if (e == EAGAIN) return e;
    if (t->need_meta) {
        t->need_meta = 0;
        encode_meta(t, ts, 0);
    }
    for (sl_tstate *s = atomic_load(&t->states); s && e != EAGAIN; s = s->next) {
        int we = drain_ring(t, s);
        if (we) e = we;
    }
    if (e == EAGAIN) return e;
    uint64_t dropped = sl_dropped_total(t);
    if (dropped > t->dropped_told && t->write_meta) {
        t->dropped_told = dropped;
        encode_meta(t, ts, dropped);
    }
    int we = flush_batch(t);
    if (we) e = we;
    uint32_t asked = atomic_load_explicit(&sl_dump_requests, memory_order_relaxed);
    if (t->rec && asked != t->dumps_seen && e != EAGAIN) {
        t->dumps_seen = asked;
        we = sl_recorder_dump(t, NULL, t->patience);
        if (we) e = we;
    }
    return e;
}

int sl_drain_waiting(sl_tracer *t, uint64_t ts, uint64_t patience)
{
    if (!drain_begin(t, patience)) return EAGAIN;
    sl_tracer *outer = sl_tl_draining;
    sl_tl_draining = t;
    int e = drain_locked(t, ts);
    atomic_store_explicit(&t->last_drain_ts, ts, memory_order_relaxed);
    sl_tl_draining = outer;
    drain_end(t);
    sl_clock_refine();
    return e;
}

int sl_drain_all(sl_tracer *t, uint64_t ts)
{
    return sl_drain_waiting(t, ts, t->producer_patience);
}

void sl_drain_with(sl_tracer *t, const char *rec)
{
    if (!drain_begin(t, t->producer_patience)) return;
    sl_tracer *outer = sl_tl_draining;
    sl_tl_draining = t;
    if (flush_batch(t) != EAGAIN) {
        for (sl_tstate *s = atomic_load(&t->states); s; s = s->next)
            if (drain_ring(t, s) == EAGAIN) break;
    }
    if (t->out.len < OUT_BATCH) encode_record(t, rec);   /* else the output is stalled: drop */
    else add(&t->wdropped, 1);
    flush_batch(t);
    sl_tl_draining = outer;
    drain_end(t);
}

void sl_drain_meta(sl_tracer *t, uint64_t ts)
{
    if (!drain_begin(t, t->producer_patience)) return;
    encode_meta(t, ts, 0);
    if (!t->rec) flush_batch(t);   /* a recorder keeps the meta for each dump itself */
    else sl_drain_discard(t);
    drain_end(t);
}

/* ===== FLIGHT RECORDER DUMPS (drain_mu held) ===== */

int sl_recorder_dump(sl_tracer *t, const char *path, uint64_t patience)
{
    sl_sink file, *s = &t->sink;
    if (path) {
        memset(&file, 0, sizeof file);
        file.kind = SL_SINK_PATH;
        file.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (file.fd < 0) return errno;
        file.owns_fd = 1;
        s = &file;
    }
    /* the batch is empty (flushed into the recorder): build dump batches */
    if (t->write_meta) encode_meta(t, tracer_now(t), 0);
    const char *a, *b;
    size_t alen, blen;
    int e = 0;
    while (sl_recorder_take(t->rec, &a, &alen, &b, &blen)) {
        size_t before = t->out.len;
        if (e || sl_buf_append(&t->out, a, alen) != 0 || sl_buf_append(&t->out, b, blen) != 0) {
            t->out.len = before;   /* the output failed, or no memory: lost */
            add(&t->wdropped, 1);
            continue;
        }
        batch_commit(t, before);
        if (t->out.len >= OUT_BATCH) e = write_batch(t, s, patience);
    }
    if (!e) e = write_batch(t, s, patience);
    if (e == EAGAIN) e = ETIMEDOUT;
    if (e) add(&t->wdropped, sl_drain_discard(t));
    if (path) sl_sink_close(&file);
    return e;
}

/* ===== BACKGROUND WRITER ===== */

/* The writer waits this long for room, then lets go of the drain mutex. */
#define WRITER_WAIT_NS 50000000u

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
        sl_drain_waiting(t, tracer_now(t), WRITER_WAIT_NS);
        pthread_mutex_lock(&t->wmu);
    }
    pthread_mutex_unlock(&t->wmu);
    return NULL;
}

int sl_start_writer(sl_tracer *t)
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

/* Returns when the writer's drain under way ends: the rings are empty, or
 * the output took nothing for WRITER_WAIT_NS. */
void sl_stop_writer(sl_tracer *t)
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
