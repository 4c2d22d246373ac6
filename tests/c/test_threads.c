/*
 * test_threads.c: several threads tracing through one tracer: every span's
 * start and end are written exactly once, lines never interleave, each
 * thread has its own lane, and a span started on one thread can be ended on
 * another (and close abandons what is still open on any thread).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

enum { THREADS = 4, SPANS = 20000 };

static sl_tracer *tracer;
static sl_span handoff[THREADS];
static pthread_barrier_t all_bound;

static void *worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < SPANS; i++) {
        /* every worker holds its thread state before any can exit: a thread
         * that started after another exited would take over its lane */
        if (i == 1) pthread_barrier_wait(&all_bound);
        sl_span s;
        sl_attr a[2] = {{"thread", 6, SL_ATTR_INT, {.i = k}}, {"i", 1, SL_ATTR_INT, {.i = i}}};
        sl_start_opts o;
        memset(&o, 0, sizeof o);
        o.attrs = a;
        o.nattrs = 2;
        sl_span_begin(tracer, &s, "work", 4, &o);
        if (i % 1000 == 0) sl_tracer_flush(tracer);   /* flushes from any thread */
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    /* one span for the next thread to end */
    sl_span_begin(tracer, &handoff[k], "handoff", 7, NULL);
    return NULL;
}

static void *short_lived(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        sl_span s;
        sl_span_begin(tracer, &s, "short", 5, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    return NULL;
}

/* threads that come and go one after the other reuse one thread state (and
 * lane) instead of a ring each */
static void test_short_lived(const char *path)
{
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    tracer = sl_tracer_open(&c, NULL);
    for (int k = 0; k < 50; k++) {
        pthread_t th;
        pthread_create(&th, NULL, short_lived, NULL);
        pthread_join(th, NULL);
    }
    sl_tracer_close(tracer);
    FILE *f = fopen(path, "r");
    char line[1024];
    int starts = 0, other_lane = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"type\":\"start\"")) continue;
        starts++;
        if (!strstr(line, "\"lane\":1}")) other_lane++;
    }
    if (f) fclose(f);
    CHECK_EQ_INT(starts, 500);
    CHECK_EQ_INT(other_lane, 0);
}

static void *ender(void *arg)
{
    int k = (int)(intptr_t)arg;
    CHECK_EQ_INT(sl_span_end(&handoff[k], SL_STATUS_OK, NULL, 0), SL_OK);
    return NULL;
}

typedef struct {
    char id[33];
    int starts, ends;
} seen;

static int cmp_seen(const void *a, const void *b)
{
    return strcmp(((const seen *)a)->id, ((const seen *)b)->id);
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/sl-test-threads-%d.jsonl", (int)getpid());
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    c.buffer_size = 64 * 1024;   /* small: the rings fill and get drained */
    c.flush_interval_ms = 5;
    tracer = sl_tracer_open(&c, NULL);
    CHECK(tracer != NULL);
    pthread_t th[THREADS];
    pthread_barrier_init(&all_bound, NULL, THREADS);
    for (int k = 0; k < THREADS; k++) pthread_create(&th[k], NULL, worker, (void *)(intptr_t)k);
    for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
    pthread_barrier_destroy(&all_bound);
    /* end the hand-off spans on other threads, except the last one */
    for (int k = 0; k < THREADS - 1; k++) {
        pthread_create(&th[k], NULL, ender, (void *)(intptr_t)k);
        pthread_join(th[k], NULL);
    }
    sl_stats st;
    sl_tracer_stats(tracer, &st);
    CHECK_EQ_INT(st.spans_started, THREADS * (SPANS + 1));
    CHECK_EQ_INT(st.spans_open, 1);
    CHECK_EQ_INT(sl_tracer_close(tracer), SL_OK);

    FILE *f = fopen(path, "r");
    size_t cap = THREADS * (SPANS + 1) + 10, n = 0;
    seen *ids = calloc(cap, sizeof *ids);
    char line[1024];
    int bad = 0, metas = 0, abandoned = 0, lanes[THREADS + 2] = {0};
    while (f && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len < 2 || line[0] != '{' || line[len - 2] != '}' || line[len - 1] != '\n' ||
            strstr(line + 1, "{\"type\"")) {
            bad++;
            continue;
        }
        if (strstr(line, "\"type\":\"meta\"")) {
            metas++;
            continue;
        }
        const char *id = strstr(line, "\"id\":\"");
        if (!id) {
            bad++;
            continue;
        }
        if (strstr(line, "\"type\":\"start\"")) {
            if (n < cap) {
                memcpy(ids[n].id, id + 6, 32);
                ids[n].starts = 1;
                n++;
            }
            const char *lane = strstr(line, "\"lane\":");
            const char *thr = strstr(line, "\"thread\":");
            if (lane && thr) {
                int l = atoi(lane + 7), k = atoi(thr + 9);
                if (l >= 1 && l <= THREADS + 1) lanes[k] |= 1 << l;
            }
        }
        if (strstr(line, "\"status\":\"abandoned\"")) abandoned++;
    }
    if (f) fclose(f);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(metas, 1);
    CHECK_EQ_INT(n, THREADS * (SPANS + 1));
    CHECK_EQ_INT(abandoned, 1);
    /* each thread used exactly one lane and no two threads shared one */
    int all = 0;
    for (int k = 0; k < THREADS; k++) {
        CHECK(lanes[k] && (lanes[k] & (lanes[k] - 1)) == 0);
        CHECK(!(all & lanes[k]));
        all |= lanes[k];
    }
    qsort(ids, n, sizeof *ids, cmp_seen);
    /* match the end records against the sorted starts */
    f = fopen(path, "r");
    int unknown = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"type\":\"end\"")) continue;
        seen key;
        const char *id = strstr(line, "\"id\":\"");
        memcpy(key.id, id + 6, 32);
        key.id[32] = 0;
        seen *s = bsearch(&key, ids, n, sizeof *ids, cmp_seen);
        if (s) s->ends++;
        else unknown++;
    }
    if (f) fclose(f);
    int wrong = 0, dup_start = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i].ends != 1) wrong++;
        if (i && strcmp(ids[i - 1].id, ids[i].id) == 0) dup_start++;
    }
    CHECK_EQ_INT(unknown, 0);
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(dup_start, 0);
    free(ids);
    test_short_lived(path);
    unlink(path);
    return CHECK_DONE();
}
