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
 * libcurl is loaded with dlopen by the first exporter, not linked: linked,
 * it and the ~30 libraries it needs (TLS, Kerberos, LDAP, ...) were loaded
 * and their symbols resolved by every program that required spanline and
 * every CLI command (22M instructions, a few ms, at each start), for a
 * feature most runs never use. Its header still gives the types and the
 * option numbers, which are part of its stable ABI (soname libcurl.so.4).
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "otlp.h"

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

/* ===== LIBCURL, LOADED ON FIRST USE ===== */

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    void (*easy_cleanup)(CURL *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_failure[256];   /* why libcurl cannot be used, or "" */

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define CURL_SYMBOL(lib, field, name) \
    (*(void **)(&curl.field) = dlsym(lib, name)) != NULL

static void curl_load(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(curl_failure, sizeof curl_failure, "cannot load libcurl.so.4 (%s)", why ? why : "dlopen failed");
        return;
    }
    if (!(CURL_SYMBOL(lib, global_init, "curl_global_init") && CURL_SYMBOL(lib, easy_init, "curl_easy_init") &&
          CURL_SYMBOL(lib, easy_setopt, "curl_easy_setopt") && CURL_SYMBOL(lib, easy_perform, "curl_easy_perform") &&
          CURL_SYMBOL(lib, easy_getinfo, "curl_easy_getinfo") &&
          CURL_SYMBOL(lib, easy_strerror, "curl_easy_strerror") &&
          CURL_SYMBOL(lib, easy_cleanup, "curl_easy_cleanup") &&
          CURL_SYMBOL(lib, slist_append, "curl_slist_append") &&
          CURL_SYMBOL(lib, slist_free_all, "curl_slist_free_all"))) {
        snprintf(curl_failure, sizeof curl_failure, "libcurl.so.4 lacks a function spanline needs");
        return;   /* the library stays loaded: harmless, and dlclose would race other users */
    }
    CURLcode rc = curl.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) snprintf(curl_failure, sizeof curl_failure, "libcurl: %s", curl.easy_strerror(rc));
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

/* ===== PARTIAL SUCCESS =====
 * A 2xx may still say that some spans were rejected: the response's
 * partial_success (ExportTracePartialSuccess: 1 rejected_spans, 2
 * error_message). Those spans are not retried (the spec says so) but
 * counted as rejected, not sent. */

static uint64_t json_rejected(const char *p, size_t len)
{
    static const char key[] = "\"rejectedSpans\"";
    const char *e = p + len, *k = memmem(p, len, key, sizeof key - 1);
    if (!k) return 0;
    k += sizeof key - 1;
    while (k < e && (*k == ' ' || *k == ':' || *k == '"' || *k == '\t' || *k == '\n' || *k == '\r')) k++;
    uint64_t v = 0;
    while (k < e && *k >= '0' && *k <= '9' && v < UINT64_MAX / 10) v = v * 10 + (uint64_t)(*k++ - '0');
    return v;
}

/* A protobuf varint at *p; 0 when cut short. */
static int varint(const unsigned char **p, const unsigned char *e, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < e && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* Field `want` (a varint) of the message [p, e), descending into field
 * `within` (a nested message) first when within is nonzero. */
static uint64_t proto_rejected(const unsigned char *p, const unsigned char *e, int within)
{
    uint64_t tag, v;
    while (p < e && varint(&p, e, &tag)) {
        unsigned field = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
        if (wt == 0) {
            if (!varint(&p, e, &v)) return 0;
            if (!within && field == 1) return v;
        } else if (wt == 2) {
            if (!varint(&p, e, &v) || v > (uint64_t)(e - p)) return 0;
            if (within && field == 1) return proto_rejected(p, p + v, 0);
            p += v;
        } else if (wt == 1 || wt == 5) {
            if ((uint64_t)(e - p) < (wt == 1 ? 8u : 4u)) return 0;
            p += wt == 1 ? 8 : 4;
        } else {
            return 0;
        }
    }
    return 0;
}

static uint64_t rejected_spans(const sl_otlp_exporter *x, size_t nspans)
{
    uint64_t n = x->o.format == SL_OTLP_JSON
                     ? json_rejected(x->reply, x->reply_len)
                     : proto_rejected((const unsigned char *)x->reply,
                                      (const unsigned char *)x->reply + x->reply_len, 1);
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
    if (!(x->curl = curl.easy_init())) return SL_ENOMEM;
    curl.easy_setopt(x->curl, CURLOPT_URL, x->url);
    curl.easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->headers);
    curl.easy_setopt(x->curl, CURLOPT_POST, 1L);
    curl.easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, (long)x->o.timeout_ms);
    curl.easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)x->o.timeout_ms);
    curl.easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, keep_reply);
    curl.easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
    curl.easy_setopt(x->curl, CURLOPT_USERAGENT, "spanline/" SL_VERSION);
    curl.easy_setopt(x->curl, CURLOPT_XFERINFOFUNCTION, progress);
    curl.easy_setopt(x->curl, CURLOPT_XFERINFODATA, x);
    curl.easy_setopt(x->curl, CURLOPT_NOPROGRESS, 0L);
    return SL_OK;
}

enum { SENT, RETRY, REJECTED };

/* POSTs r; *retry_after_ms is the server's Retry-After, or 0. */
static int post(sl_otlp_exporter *x, request *r, long *status, uint32_t *retry_after_ms)
{
    *retry_after_ms = 0;
    *status = 0;
    curl.easy_setopt(x->curl, CURLOPT_POSTFIELDS, r->body.ptr);
    curl.easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    x->reply_len = 0;
    CURLcode rc = curl.easy_perform(x->curl);
    if (rc != CURLE_OK) return RETRY;   /* refused, reset, timed out: try again */
    curl.easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 200 && *status < 300) return SENT;
    if (*status == 429 || *status >= 500 || *status == 408) {
        curl_off_t after = 0;
        if (curl.easy_getinfo(x->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
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
        int outcome = post(x, r, &status, &after);
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
            uint64_t rejected = rejected_spans(x, r->nspans);
            x->st.spans_sent += r->nspans - rejected;
            x->st.spans_rejected += rejected;
        } else x->st.spans_dropped += r->nspans;   /* the collector refused it for good */
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
    if (!(x->headers = curl.slist_append(NULL, type))) return SL_ENOMEM;
    /* no "Expect: 100-continue" round trip for large bodies */
    struct curl_slist *l = curl.slist_append(x->headers, "Expect:");
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
            l = curl.slist_append(x->headers, line);
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
    pthread_once(&curl_once, curl_load);
    if (curl_failure[0]) {
        sl_set_error(err, SL_EIO, 0, "otlp: %s", curl_failure);
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
    if (x->curl) curl.easy_cleanup(x->curl);
    curl.slist_free_all(x->headers);
    free(x->url);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cond);
    free(x);
}
