/*
 * test_flush.c: flush policies. always: the bytes are in the file when the
 * call returns. batch: nothing but the meta record until a flush, the
 * interval (writer thread, or the caller's next record), or close. A full
 * ring either blocks (drains: nothing lost) or drops and counts.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static char path[64];

static int file_lines(void)
{
    FILE *f = fopen(path, "r");
    int lines = 0, c;
    while (f && (c = fgetc(f)) != EOF) lines += c == '\n';
    if (f) fclose(f);
    return lines;
}

static sl_tracer *open_path(sl_flush_policy flush, int background, uint32_t interval_ms,
                            size_t ring, int block)
{
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    c.flush = flush;
    c.background = background;
    c.flush_interval_ms = interval_ms;
    c.buffer_size = ring;
    c.block_when_full = block;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    return t;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void test_always(void)
{
    sl_tracer *t = open_path(SL_FLUSH_ALWAYS, -1, 100000, 0, 1);
    CHECK_EQ_INT(file_lines(), 1);
    sl_span s;
    sl_span_begin(t, &s, "a", 1, NULL);
    CHECK_EQ_INT(file_lines(), 2);
    sl_span_event(&s, "e", 1, NULL, 0);
    CHECK_EQ_INT(file_lines(), 3);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(file_lines(), 4);
    sl_tracer_close(t);
    CHECK_EQ_INT(file_lines(), 4);
}

static void test_batch(void)
{
    /* no writer, a long interval: only explicit flushes and close write */
    sl_tracer *t = open_path(SL_FLUSH_BATCH, 0, 100000, 0, 1);
    sl_span s;
    sl_span_begin(t, &s, "a", 1, NULL);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(file_lines(), 1);
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    CHECK_EQ_INT(file_lines(), 3);
    sl_span_begin(t, &s, "b", 1, NULL);
    CHECK_EQ_INT(file_lines(), 3);
    sl_tracer_close(t);
    CHECK_EQ_INT(file_lines(), 5);   /* b's start and its abandoned end */

    /* no writer, interval 0: every record is due at once */
    t = open_path(SL_FLUSH_BATCH, 0, 0, 0, 1);
    sl_span_begin(t, &s, "a", 1, NULL);
    CHECK_EQ_INT(file_lines(), 2);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(file_lines(), 3);
    sl_tracer_close(t);

    /* no writer, 50 ms: the first record after the interval flushes */
    t = open_path(SL_FLUSH_BATCH, 0, 50, 0, 1);
    sl_span_begin(t, &s, "a", 1, NULL);
    CHECK_EQ_INT(file_lines(), 1);
    sleep_ms(80);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(file_lines(), 3);
    sl_tracer_close(t);

    /* the writer thread flushes on its own within the interval */
    t = open_path(SL_FLUSH_BATCH, 1, 20, 0, 1);
    sl_span_begin(t, &s, "a", 1, NULL);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    int lines = 0;
    for (int i = 0; i < 200 && lines < 3; i++) {   /* waits up to 10 s */
        sleep_ms(50);
        lines = file_lines();
    }
    CHECK_EQ_INT(lines, 3);
    sl_tracer_close(t);
}

static void test_full_ring(void)
{
    /* blocking: a tiny ring, no writer, no interval: nothing is lost */
    sl_tracer *t = open_path(SL_FLUSH_BATCH, 0, 100000, 4096, 1);
    for (int i = 0; i < 5000; i++) {
        sl_span s;
        sl_span_begin(t, &s, "s", 1, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK_EQ_INT(st.dropped, 0);
    sl_tracer_close(t);
    CHECK_EQ_INT(file_lines(), 1 + 10000);

    /* dropping: the ring fills and the excess is counted */
    t = open_path(SL_FLUSH_BATCH, 0, 100000, 4096, 0);
    for (int i = 0; i < 5000; i++) {
        sl_span s;
        sl_span_begin(t, &s, "s", 1, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    sl_tracer_stats(t, &st);
    sl_tracer_close(t);
    /* a half-full ring is drained by the caller, so few or no drops: what
     * is written plus what is dropped is every record */
    CHECK_EQ_INT((uint64_t)file_lines() - 1 + st.dropped, 10000);

    /* a record bigger than the ring goes straight out, in order */
    t = open_path(SL_FLUSH_BATCH, 0, 100000, 4096, 1);
    sl_span s;
    sl_span_begin(t, &s, "before", 6, NULL);
    char big[3000];
    memset(big, 'x', sizeof big);
    sl_attr a = {"big", 3, SL_ATTR_STRING, {.s = {big, sizeof big}}};
    sl_span_attrs(&s, &a, 1);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    sl_tracer_close(t);
    CHECK_EQ_INT(file_lines(), 4);
    FILE *f = fopen(path, "r");
    char line[8192];
    int n = 0, order_ok = 1;
    const char *want[] = {"meta", "start", "attr", "end"};
    while (f && fgets(line, sizeof line, f) && n < 4) {
        if (!strstr(line, want[n])) order_ok = 0;
        n++;
    }
    if (f) fclose(f);
    CHECK(order_ok);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/sl-test-flush-%d.jsonl", (int)getpid());
    test_always();
    test_batch();
    test_full_ring();
    unlink(path);
    return CHECK_DONE();
}
