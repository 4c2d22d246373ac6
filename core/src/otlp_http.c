/*
 * otlp_http.c: the OTLP/HTTP exporter: spans go into a batch, batches into a
 * bounded queue, and one thread of its own POSTs them with libcurl, in
 * order, retrying.
 *
 * Key idea: whoever adds spans (a tracer's writer thread, the CLI) only
 * encodes and queues under a mutex: the network is touched by the exporter's
 * thread alone, so a slow or dead collector never blocks the traced program.
 * A batch goes when it is full or its oldest span is batch_delay_ms old.
 * Delivery: a 2xx removes the request (it is never sent again); 429, 5xx
 * and transport errors are retried with exponential backoff (Retry-After
 * honoured, up to 60 s); other 4xx drop the request. While the collector
 * is away the queue holds up to queue_spans spans; past that new spans are
 * dropped and counted, so memory stays bounded.
 *
 * libcurl is reached through sl_curl (otlp_curl.c: loaded at first use).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "otlp_curl.h"

typedef struct request {
    struct request *next;
    size_t nspans;
    sl_buf body;
} request;

struct sl_otlp_exporter {
    sl_otlp_exporter_opts o;
    char *url;
    struct curl_slist *headers;
    CURL *curl;

    pthread_mutex_t mu;
    pthread_cond_t cond;           /* work for the thread, or its progress */
    pthread_t thread;
    int thread_started, stop;
    sl_otlp_batch pending;         /* spans not yet in a request */
    uint64_t pending_since;        /* monotonic ns of its oldest span */
    request *head, *tail;          /* requests to send, oldest first */
    size_t queued;                 /* spans in pending + requests */
    int flush_now;                 /* a drain asked for the pending batch */
    _Atomic int abort_post;        /* closing: a request in flight gives up */
    uint64_t fork_epoch;
    uint64_t rng;                  /* xorshift state for retry jitter */

    sl_export_stats st;
    char reply[4096];              /* the start of the last response body */
    size_t reply_len;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void deadline(struct timespec *ts, uint64_t mono)
{
    ts->tv_sec = (time_t)(mono / 1000000000u);
    ts->tv_nsec = (long)(mono % 1000000000u);
}

/* ===== ONE REQUEST ===== */

/* Keeps the start of the response body (a partial success is small);
 * the rest is read and dropped. */
static size_t keep_reply(char *p, size_t size, size_t n, void *ud)
{
    sl_otlp_exporter *x = ud;
    size_t len = size * n, room = sizeof x->reply - x->reply_len;
    size_t take = len < room ? len : room;
    memcpy(x->reply + x->reply_len, p, take);
    x->reply_len += take;
    return len;
}

/* A partial success (otlp_curl.c) names spans the collector rejected in a
 * 2xx: they are not retried (the spec says so) but counted as rejected. */
static uint64_t rejected_spans(const sl_otlp_exporter *x, size_t nspans)
{
    uint64_t n = x->o.format == SL_OTLP_JSON
                     ? sl_otlp_rejected_json(x->reply, x->reply_len)
                     : sl_otlp_rejected_proto(x->reply, x->reply_len);
    return n < nspans ? n : nspans;
}

/* Called by libcurl while a request runs: nonzero aborts it (closing). */
static int progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&((sl_otlp_exporter *)ud)->abort_post);
}

static int setup_curl(sl_otlp_exporter *x)
{
    if (!(x->curl = sl_curl.easy_init())) return SL_ENOMEM;
    sl_curl.easy_setopt(x->curl, CURLOPT_URL, x->url);
    sl_curl.easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->headers);
    sl_curl.easy_setopt(x->curl, CURLOPT_POST, 1L);
    sl_curl.easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    sl_curl.easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, (long)x->o.timeout_ms);
    sl_curl.easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)x->o.timeout_ms);
    sl_curl.easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, keep_reply);
    sl_curl.easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
    sl_curl.easy_setopt(x->curl, CURLOPT_USERAGENT, "spanline/" SL_VERSION);
    sl_curl.easy_setopt(x->curl, CURLOPT_XFERINFOFUNCTION, progress);
    sl_curl.easy_setopt(x->curl, CURLOPT_XFERINFODATA, x);
    sl_curl.easy_setopt(x->curl, CURLOPT_NOPROGRESS, 0L);
    return SL_OK;
}

enum { SENT, RETRY, REJECTED };

/* POSTs r; *retry_after_ms is the server's Retry-After, or 0; *rejected
 * the spans a 2xx's partial success names, or 0. Runs without the lock. */
static int post(sl_otlp_exporter *x, request *r, long *status, uint32_t *retry_after_ms, uint64_t *rejected)
{
    *retry_after_ms = 0;
    *status = 0;
    *rejected = 0;
    sl_curl.easy_setopt(x->curl, CURLOPT_POSTFIELDS, r->body.ptr);
    sl_curl.easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    x->reply_len = 0;
    CURLcode rc = sl_curl.easy_perform(x->curl);
    if (rc != CURLE_OK) return RETRY;   /* refused, reset, timed out: try again */
    sl_curl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 200 && *status < 300) {
        *rejected = rejected_spans(x, r->nspans);
        return SENT;
    }
    if (*status == 429 || *status >= 500 || *status == 408) {
        curl_off_t after = 0;
        if (sl_curl.easy_getinfo(x->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            *retry_after_ms = after > 60 ? 60000u : (uint32_t)after * 1000u;
        return RETRY;
    }
    return REJECTED;
}

/* ===== THE THREAD ===== */

static void free_request(request *r)
{
    sl_buf_free(&r->body);
    free(r);
}

/* Turns the pending batch into a request at the tail (under mu). */
static void seal_pending(sl_otlp_exporter *x)
{
    size_t n = x->pending.nspans;
    if (!n) return;
    request *r = calloc(1, sizeof *r);
    if (!r || sl_otlp_batch_finish(&x->pending, &r->body) != SL_OK) {
        /* no memory for the request: its spans are lost, counted */
        if (r) free_request(r);
        x->st.spans_dropped += n;
        x->queued -= n;
        x->pending.spans.len = 0;
        x->pending.nspans = 0;
        return;
    }
    r->nspans = n;
    if (x->tail) x->tail->next = r;
    else x->head = r;
    x->tail = r;
}

/* The delay before retrying: Retry-After when the server gave one, else
 * the backoff (doubling up to its cap) with +-25% jitter. */
static uint32_t retry_delay(sl_otlp_exporter *x, uint32_t *backoff, uint32_t after)
{
    *backoff = *backoff ? *backoff * 2 : x->o.backoff_min_ms;
    if (*backoff > x->o.backoff_max_ms) *backoff = x->o.backoff_max_ms;
    if (after) return after;
    /* the jitter's own generator: rand() would change the host program's sequence */
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    uint32_t b = *backoff;
    return b - b / 4 + (uint32_t)(x->rng % (b / 2 + 1));
}

static void *run(void *arg)
{
    sl_otlp_exporter *x = arg;
    uint32_t backoff = 0;
    pthread_mutex_lock(&x->mu);
    while (!x->stop) {
        if (x->pending.nspans &&
            (x->flush_now || x->pending.nspans >= x->o.batch_spans ||
             mono_ns() - x->pending_since >= (uint64_t)x->o.batch_delay_ms * 1000000u))
            seal_pending(x);
        x->flush_now = 0;
        if (!x->head) {
            pthread_cond_broadcast(&x->cond);   /* a drain waits for an empty queue */
            if (x->pending.nspans) {
                struct timespec ts;
                deadline(&ts, x->pending_since + (uint64_t)x->o.batch_delay_ms * 1000000u);
                pthread_cond_timedwait(&x->cond, &x->mu, &ts);
            } else {
                pthread_cond_wait(&x->cond, &x->mu);
            }
            continue;
        }
        request *r = x->head;
        pthread_mutex_unlock(&x->mu);
        long status;
        uint32_t after;
        uint64_t rejected;
        int outcome = post(x, r, &status, &after, &rejected);
        pthread_mutex_lock(&x->mu);
        x->st.requests++;
        x->st.last_status = status ? (int)status : -1;
        if (outcome == RETRY) {
            x->st.retries++;
            struct timespec ts;
            deadline(&ts, mono_ns() + (uint64_t)retry_delay(x, &backoff, after) * 1000000u);
            while (!x->stop && pthread_cond_timedwait(&x->cond, &x->mu, &ts) != ETIMEDOUT) {}
            continue;
        }
        backoff = 0;
        x->head = r->next;
        if (!x->head) x->tail = NULL;
        x->queued -= r->nspans;
        if (outcome == SENT) {
            x->st.spans_sent += r->nspans - rejected;
            x->st.spans_rejected += rejected;
        } else {
            x->st.spans_dropped += r->nspans;   /* the collector refused it for good */
        }
        free_request(r);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static int start_thread(sl_otlp_exporter *x)
{
    /* the thread takes no signal: the host's handlers stay on its own threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&x->thread, NULL, run, x);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return SL_EIO;
    x->thread_started = 1;
    return SL_OK;
}

static void init_sync(sl_otlp_exporter *x)
{
    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cond, &ca);
    pthread_condattr_destroy(&ca);
}

/* In a forked child the thread is gone and the locks may be held by it:
 * start over with an empty queue (the parent sends what it had queued). */
static void after_fork(sl_otlp_exporter *x)
{
    uint64_t epoch = atomic_load_explicit(&sl_fork_epoch, memory_order_relaxed);
    if (epoch == x->fork_epoch) return;
    x->fork_epoch = epoch;
    init_sync(x);
    x->head = x->tail = NULL;   /* the parent's copies: left alone (leaked, not freed twice) */
    x->pending.spans = (sl_buf){0};
    x->pending.scratch = (sl_buf){0};
    x->pending.nspans = 0;
    x->queued = 0;
    x->stop = x->flush_now = 0;
    atomic_store(&x->abort_post, 0);
    x->curl = NULL;             /* the parent's connection: never used here */
    x->thread_started = 0;
    if (setup_curl(x) == SL_OK) start_thread(x);
}

/* ===== API ===== */

static char *dup_cstr(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (c) memcpy(c, s, n + 1);
    return c;
}

/* "Name: value" lines into curl's list, after the content type. */
static int build_headers(sl_otlp_exporter *x, const char *lines)
{
    const char *type = x->o.format == SL_OTLP_JSON ? "Content-Type: application/json"
                                                   : "Content-Type: application/x-protobuf";
    if (!(x->headers = sl_curl.slist_append(NULL, type))) return SL_ENOMEM;
    /* no "Expect: 100-continue" round trip for large bodies */
    struct curl_slist *l = sl_curl.slist_append(x->headers, "Expect:");
    if (!l) return SL_ENOMEM;
    x->headers = l;
    for (const char *p = lines; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && memchr(p, ':', n)) {
            char *line = malloc(n + 1);
            if (!line) return SL_ENOMEM;
            memcpy(line, p, n);
            line[n] = '\0';
            l = sl_curl.slist_append(x->headers, line);
            free(line);
            if (!l) return SL_ENOMEM;
            x->headers = l;
        }
        p = e ? e + 1 : NULL;
    }
    return SL_OK;
}


sl_otlp_exporter *sl_otlp_exporter_new(const sl_otlp_exporter_opts *o, sl_error *err)
{
    if (!o || !o->url) {
        sl_set_error(err, SL_EINVAL, 0, "otlp: no endpoint URL");
        return NULL;
    }
    const char *why = sl_curl_load();
    if (why) {
        sl_set_error(err, SL_EIO, 0, "otlp: %s", why);
        return NULL;
    }
    sl_otlp_exporter *x = calloc(1, sizeof *x);
    if (!x) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    x->o = *o;
    x->o.headers = NULL;   /* read once, below */
    if (!x->o.batch_spans) x->o.batch_spans = 512;
    if (!x->o.batch_delay_ms) x->o.batch_delay_ms = 1000;
    if (!x->o.queue_spans) x->o.queue_spans = 65536;
    if (!x->o.timeout_ms) x->o.timeout_ms = 10000;
    if (!x->o.backoff_min_ms) x->o.backoff_min_ms = 200;
    if (!x->o.backoff_max_ms) x->o.backoff_max_ms = 5000;
    if (x->o.backoff_max_ms < x->o.backoff_min_ms) x->o.backoff_max_ms = x->o.backoff_min_ms;
    sl_otlp_batch_init(&x->pending, o->format);
    x->fork_epoch = atomic_load_explicit(&sl_fork_epoch, memory_order_relaxed);
    x->rng = mono_ns() ^ (uint64_t)(uintptr_t)x ^ 0x9E3779B97F4A7C15ull;
    init_sync(x);
    x->url = dup_cstr(o->url);
    int rc = x->url ? build_headers(x, o->headers) : SL_ENOMEM;
    if (rc == SL_OK) rc = setup_curl(x);
    if (rc == SL_OK) rc = start_thread(x);
    if (rc != SL_OK) {
        sl_set_error(err, rc, 0, rc == SL_ENOMEM ? "out of memory" : "otlp: cannot start the exporter thread");
        sl_otlp_exporter_free(x, 0);
        return NULL;
    }
    return x;
}

int sl_otlp_exporter_resource(sl_otlp_exporter *x, const char *service, size_t service_len,
                              const char *host, size_t host_len)
{
    after_fork(x);
    pthread_mutex_lock(&x->mu);
    int rc = sl_otlp_batch_resource(&x->pending, service, service_len, host, host_len);
    pthread_mutex_unlock(&x->mu);
    return rc;
}

int sl_otlp_exporter_add(sl_otlp_exporter *x, const sl_otlp_span *s)
{
    after_fork(x);
    pthread_mutex_lock(&x->mu);
    int rc = SL_OK;
    if (x->queued >= x->o.queue_spans || !x->thread_started) {
        x->st.spans_dropped++;
        rc = SL_EAGAIN;
    } else if (sl_otlp_batch_add(&x->pending, s) != SL_OK) {
        x->st.spans_dropped++;
        rc = SL_ENOMEM;
    } else {
        x->queued++;
        if (x->pending.nspans == 1) {   /* the thread now waits for this batch's deadline */
            x->pending_since = mono_ns();
            pthread_cond_broadcast(&x->cond);
        }
        if (x->pending.nspans >= x->o.batch_spans) {   /* full: a request of exactly batch_spans */
            seal_pending(x);
            pthread_cond_broadcast(&x->cond);
        }
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

int sl_otlp_exporter_drain(sl_otlp_exporter *x, uint32_t timeout_ms)
{
    after_fork(x);
    struct timespec ts;
    deadline(&ts, mono_ns() + (uint64_t)timeout_ms * 1000000u);
    pthread_mutex_lock(&x->mu);
    x->flush_now = 1;
    pthread_cond_broadcast(&x->cond);
    int rc = SL_OK;
    while (x->thread_started && (x->head || x->pending.nspans)) {
        if (pthread_cond_timedwait(&x->cond, &x->mu, &ts) == ETIMEDOUT) {
            rc = SL_EAGAIN;
            break;
        }
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

void sl_otlp_exporter_stats(sl_otlp_exporter *x, sl_export_stats *out)
{
    after_fork(x);
    pthread_mutex_lock(&x->mu);
    *out = x->st;
    out->spans_queued = x->queued;
    pthread_mutex_unlock(&x->mu);
}

void sl_otlp_exporter_free(sl_otlp_exporter *x, uint32_t timeout_ms)
{
    if (!x) return;
    after_fork(x);
    if (x->thread_started) {
        if (timeout_ms) sl_otlp_exporter_drain(x, timeout_ms);
        pthread_mutex_lock(&x->mu);
        x->stop = 1;
        atomic_store(&x->abort_post, 1);
        pthread_cond_broadcast(&x->cond);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
    }
    x->st.spans_dropped += x->queued;   /* undelivered */
    while (x->head) {
        request *r = x->head;
        x->head = r->next;
        free_request(r);
    }
    sl_otlp_batch_free(&x->pending);
    if (x->curl) sl_curl.easy_cleanup(x->curl);
    sl_curl.slist_free_all(x->headers);
    free(x->url);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cond);
    free(x);
}
