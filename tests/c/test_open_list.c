/*
 * test_open_list.c: the open-span list under stress. Owner threads begin
 * spans (and end most of their own) while other threads end the rest, and
 * close abandons what is left, on a list other threads touched and on one
 * only its owner ever did: every span ends exactly once and the counters
 * agree with the stream.
 *
 * Key idea: the owner takes its list without a locked instruction until
 * another thread needs it (tracer_impl.h); a lost update to the list shows
 * as a span close does not abandon, or one it abandons twice.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

enum { OWNERS = 2, SLOTS = 8, ROUNDS = 100000, LEFT_OPEN = 3 };

typedef struct {
    sl_span span;
    _Atomic int state;   /* 0: free, 1: open (a thief may end it), 2: being ended */
} slot;

static sl_tracer *tracer;
static slot slots[OWNERS][SLOTS];
static sl_span kept[OWNERS + 1][LEFT_OPEN];
static _Atomic int owners_done;
static _Atomic long stolen;

static void begin(sl_span *s, const char *name)
{
    CHECK_EQ_INT(sl_span_begin(tracer, s, name, strlen(name), NULL), SL_OK);
}

/* Spans of its own, nested two deep, and one per round handed to the
 * thieves; LEFT_OPEN stay open for close. */
static void *owner(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        slot *sl = &slots[k][i % SLOTS];
        while (atomic_load_explicit(&sl->state, memory_order_acquire) != 0) sched_yield();
        sl_span outer, inner;
        begin(&outer, "outer");
        begin(&sl->span, "handed");
        atomic_store_explicit(&sl->state, 1, memory_order_release);
        begin(&inner, "inner");
        CHECK_EQ_INT(sl_span_end(&inner, SL_STATUS_OK, NULL, 0), SL_OK);
        CHECK_EQ_INT(sl_span_end(&outer, SL_STATUS_OK, NULL, 0), SL_OK);
    }
    for (int j = 0; j < LEFT_OPEN; j++) begin(&kept[k][j], "kept");
    atomic_fetch_add(&owners_done, 1);
    return NULL;
}

static void *thief(void *arg)
{
    (void)arg;
    for (;;) {
        int idle = atomic_load(&owners_done) == OWNERS;
        int took = 0;
        for (int k = 0; k < OWNERS; k++) {
            for (int j = 0; j < SLOTS; j++) {
                slot *sl = &slots[k][j];
                int open = 1;
                if (!atomic_compare_exchange_strong(&sl->state, &open, 2)) continue;
                CHECK_EQ_INT(sl_span_end(&sl->span, SL_STATUS_OK, NULL, 0), SL_OK);
                atomic_store_explicit(&sl->state, 0, memory_order_release);
                atomic_fetch_add(&stolen, 1);
                took = 1;
            }
        }
        if (idle && !took) return NULL;
        if (!took) sched_yield();
    }
}

/* a thread whose list no other thread ever takes before close */
static void *loner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        sl_span s;
        begin(&s, "alone");
        CHECK_EQ_INT(sl_span_end(&s, SL_STATUS_OK, NULL, 0), SL_OK);
    }
    for (int j = 0; j < LEFT_OPEN; j++) begin(&kept[OWNERS][j], "kept");
    return NULL;
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/sl-test-open-list-%d.jsonl", (int)getpid());
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    tracer = sl_tracer_open(&c, NULL);
    CHECK(tracer != NULL);
    pthread_t own[OWNERS], th, lone;
    pthread_create(&th, NULL, thief, NULL);
    for (int k = 0; k < OWNERS; k++) pthread_create(&own[k], NULL, owner, (void *)(intptr_t)k);
    pthread_create(&lone, NULL, loner, NULL);
    for (int k = 0; k < OWNERS; k++) pthread_join(own[k], NULL);
    pthread_join(th, NULL);
    pthread_join(lone, NULL);
    CHECK_EQ_INT(atomic_load(&stolen), OWNERS * ROUNDS);

    long open = (OWNERS + 1) * LEFT_OPEN;
    long started = OWNERS * (3L * ROUNDS + LEFT_OPEN) + 1000 + LEFT_OPEN;
    sl_stats st;
    CHECK_EQ_INT(sl_tracer_close_stats(tracer, &st), SL_OK);
    CHECK_EQ_INT(st.spans_started, started);
    CHECK_EQ_INT(st.spans_ended, started);
    CHECK_EQ_INT(st.abandoned, open);
    CHECK_EQ_INT(st.dropped, 0);
    CHECK_EQ_INT(check_count_lines(path, "\"type\":\"start\""), started);
    CHECK_EQ_INT(check_count_lines(path, "\"type\":\"end\""), started);
    CHECK_EQ_INT(check_count_lines(path, "\"status\":\"abandoned\""), open);
    /* closed: ending a span close abandoned writes nothing */
    for (int k = 0; k <= OWNERS; k++)
        for (int j = 0; j < LEFT_OPEN; j++)
            CHECK_EQ_INT(sl_span_end(&kept[k][j], SL_STATUS_OK, NULL, 0), SL_ESTATE);
    unlink(path);
    return CHECK_DONE();
}
