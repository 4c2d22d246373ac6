/*
 * test_sink.c: the sinks: a path (appended to, never truncated), an fd, a
 * callback (whole records per call), memory; write errors (a closed fd:
 * EBADF, /dev/full: ENOSPC, a pipe with no reader: EPIPE without SIGPIPE
 * killing us) are counted and the tracer keeps working.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static char path[64];

static int count_lines(const char *p, size_t n)
{
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += p[i] == '\n';
    return lines;
}

static char *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    char *buf = calloc(1, 1 << 20);
    *len = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    return buf;
}

static void spans(sl_tracer *t, int n)
{
    for (int i = 0; i < n; i++) {
        sl_span s;
        sl_span_begin(t, &s, "s", 1, NULL);
        sl_span_attr_int(&s, "i", i);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
}

static void test_path_appends(void)
{
    FILE *f = fopen(path, "w");
    fputs("{\"type\":\"earlier\"}\n", f);
    fclose(f);
    for (int round = 0; round < 2; round++) {
        sl_config c;
        sl_config_init(&c);
        c.sink = SL_SINK_PATH;
        c.path = path;
        c.background = round;   /* without and with a writer thread */
        sl_tracer *t = sl_tracer_open(&c, NULL);
        CHECK(t != NULL);
        spans(t, 100);
        CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
    }
    size_t n;
    char *buf = slurp(path, &n);
    CHECK(strncmp(buf, "{\"type\":\"earlier\"}\n{\"type\":\"meta\"", 33) == 0);
    CHECK_EQ_INT(count_lines(buf, n), 1 + 2 * (1 + 300));
    free(buf);
}

static void test_fd(void)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_FD;
    c.fd = fd;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    spans(t, 50);
    sl_tracer_close(t);
    /* the caller's fd stays open */
    CHECK_EQ_INT(write(fd, "{\"after\":1}\n", 12), 12);
    close(fd);
    size_t n;
    char *buf = slurp(path, &n);
    CHECK_EQ_INT(count_lines(buf, n), 1 + 150 + 1);
    free(buf);
}

typedef struct collected {
    int calls, partial;
    size_t bytes;
    int fail_with;
    int lost;          /* records handed to a failing call */
} collected;

static int collect(void *ud, const char *data, size_t len)
{
    collected *c = ud;
    c->calls++;
    c->bytes += len;
    if (!len || data[len - 1] != '\n') c->partial++;
    if (c->fail_with)
        for (size_t i = 0; i < len; i++) c->lost += data[i] == '\n';
    return c->fail_with;
}

static void test_callback(void)
{
    collected col = {0, 0, 0, 0, 0};
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_CALLBACK;
    c.write = collect;
    c.write_ud = &col;
    c.buffer_size = 4096;   /* fills often: many batches */
    c.background = 1;       /* ignored: callbacks never run on a writer thread */
    sl_tracer *t = sl_tracer_open(&c, NULL);
    spans(t, 2000);
    sl_tracer_flush(t);
    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK(col.calls > 2);
    CHECK_EQ_INT(col.partial, 0);
    CHECK_EQ_INT(st.bytes, col.bytes);
    CHECK_EQ_INT(st.records, 1 + 6000);
    CHECK_EQ_INT(st.write_errors, 0);
    /* a failing callback: counted, records dropped, the tracer goes on */
    col.fail_with = EIO;
    spans(t, 10);
    sl_tracer_flush(t);
    sl_tracer_stats(t, &st);
    CHECK(st.write_errors >= 1);
    CHECK_EQ_INT(st.last_errno, EIO);
    /* the 30 records, and a meta record reporting drops if one was written
     * before the last batch failed (where batches end depends on the ring) */
    CHECK(col.lost >= 30);
    CHECK_EQ_INT(st.dropped, col.lost);
    col.fail_with = 0;
    spans(t, 1);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
}

/* A callback that records spans itself (as a Lua function sink might):
 * no deadlock, no recursion, its spans go out with a later flush. */
static sl_tracer *reentrant_tracer;
static int reentrant_calls;

static int reentrant(void *ud, const char *data, size_t len)
{
    (void)data;
    (void)len;
    collected *c = ud;
    c->calls++;
    c->bytes += len;
    reentrant_calls++;
    if (!reentrant_tracer) return 0;   /* the meta record, from inside sl_tracer_open */
    sl_span s;
    sl_span_begin(reentrant_tracer, &s, "inside", 6, NULL);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(sl_tracer_flush(reentrant_tracer), SL_OK);   /* a no-op in here */
    size_t n;
    CHECK(sl_tracer_memory(reentrant_tracer, &n) == NULL);   /* not a memory sink */
    return 0;
}

static void test_reentrant_callback(void)
{
    collected col = {0, 0, 0, 0, 0};
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_CALLBACK;
    c.write = reentrant;
    c.write_ud = &col;
    c.flush = SL_FLUSH_ALWAYS;
    reentrant_tracer = sl_tracer_open(&c, NULL);
    CHECK(reentrant_tracer != NULL);
    spans(reentrant_tracer, 3);
    sl_stats st;
    sl_tracer_stats(reentrant_tracer, &st);
    /* each call records one more span, written by the next call */
    CHECK(st.spans_started >= 3 + 1);
    CHECK_EQ_INT(st.dropped, 0);
    CHECK_EQ_INT(sl_tracer_close(reentrant_tracer), SL_OK);
    CHECK(reentrant_calls >= 10);
}

static void check_write_error(int fd, int background, int want_errno)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_FD;
    c.fd = fd;
    c.background = background;
    c.flush_interval_ms = background ? 100 : 100000;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    spans(t, 100);
    CHECK_EQ_INT(sl_tracer_flush(t), SL_EIO);
    spans(t, 100);
    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK(st.write_errors >= 1);
    CHECK_EQ_INT(st.last_errno, want_errno);
    CHECK(st.dropped >= 300);
    CHECK_EQ_INT(st.spans_started, 200);
    /* the last 100 spans fail in close's own flush, unless the writer got
     * to them first */
    int rc = sl_tracer_close(t);
    if (!background) CHECK_EQ_INT(rc, SL_EIO);
}

static void test_write_errors(void)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fd);   /* now a closed fd */
    check_write_error(fd, 0, EBADF);
    check_write_error(fd, 1, EBADF);
    int full = open("/dev/full", O_WRONLY);
    if (full >= 0) {
        check_write_error(full, 0, ENOSPC);
        check_write_error(full, 1, ENOSPC);
        close(full);
    }
    /* EPIPE with SIGPIPE at its default (terminate) disposition */
    signal(SIGPIPE, SIG_DFL);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    check_write_error(p[1], 0, EPIPE);
    check_write_error(p[1], 1, EPIPE);
    /* no SIGPIPE left pending for the host either */
    sigset_t pending;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    close(p[1]);
}

static void test_memory(void)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.write_meta = 0;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    size_t n;
    sl_tracer_memory(t, &n);
    CHECK_EQ_INT(n, 0);
    spans(t, 5);
    const char *m = sl_tracer_memory(t, &n);
    CHECK_EQ_INT(count_lines(m, n), 15);
    CHECK(strncmp(m, "{\"type\":\"start\"", 15) == 0);
    /* the bytes are NUL-terminated (spanline.h), also after a clear */
    CHECK(m[n] == '\0');
    CHECK_EQ_INT(strlen(m), n);
    sl_tracer_memory_clear(t);
    m = sl_tracer_memory(t, &n);
    CHECK_EQ_INT(n, 0);
    CHECK(m[0] == '\0');
    spans(t, 1);
    m = sl_tracer_memory(t, &n);
    CHECK(n > 0 && m[n] == '\0' && strlen(m) == n);
    sl_tracer_close(t);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/sl-test-sink-%d.jsonl", (int)getpid());
    test_path_appends();
    test_fd();
    test_callback();
    test_reentrant_callback();
    test_write_errors();
    test_memory();
    unlink(path);
    return CHECK_DONE();
}
