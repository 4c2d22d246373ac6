/*
 * test_sink_pipe.c: outputs a reader can stall, with real pipes and sockets.
 * Several processes writing 200k spans each to one pipe (as their stderr,
 * shared with the programs' own output lines) never splice records; a
 * reader that stops reading never stops the traced program (records are
 * dropped and counted, reported in the stream by a meta record once the
 * reader reads again); close() and exit finish within about a second
 * whatever the reader does.
 *
 * Every traced program runs in a child process watched by the parent, so a
 * program that hangs fails the test (after a generous 60 s) instead of
 * hanging it; no assertion is about speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

#define WRITERS 4
#define SPANS 200000
#define STALL_SPANS 50000   /* many times what the pipe and the ring hold */
#define PROGRAM_LINE_EVERY 1000
#define PROGRAM_LINE "the program's own output, a line of it\n"

static void span_with_attrs(sl_tracer *t, int i)
{
    sl_attr attrs[2];
    attrs[0].key = "i";
    attrs[0].key_len = 1;
    attrs[0].type = SL_ATTR_INT;
    attrs[0].v.i = i;
    attrs[1].key = "what";
    attrs[1].key_len = 4;
    attrs[1].type = SL_ATTR_STRING;
    attrs[1].v.s.ptr = "a value long enough to make records of a hundred bytes or more";
    attrs[1].v.s.len = strlen(attrs[1].v.s.ptr);
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = attrs;
    o.nattrs = 2;
    sl_span s;
    sl_span_begin(t, &s, "work", 4, &o);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
}

/* Waits for pid at most `seconds`; kills it if it is still running.
 * Returns its wait status, or -1 when it had to be killed. */
static int wait_bounded(pid_t pid, int seconds)
{
    int status = 0;
    for (int i = 0; i < seconds * 100; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* ===== MANY WRITERS, ONE PIPE ===== */

static void writer_child(int fd, int block)
{
    dup2(fd, 2);   /* the default output is stderr */
    sl_config c;
    sl_config_init(&c);
    c.block_when_full = block;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    if (!t) _exit(3);
    for (int i = 0; i < SPANS; i++) {
        span_with_attrs(t, i);
        if (i % PROGRAM_LINE_EVERY == 0) fputs(PROGRAM_LINE, stderr);   /* unbuffered: one write */
    }
    sl_stats st;
    sl_tracer_stats(t, &st);
    int rc = sl_tracer_close(t);
    _exit(rc == SL_OK && st.dropped == 0 ? 0 : 4);
}

static void test_shared_pipe(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t kids[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(p[0]);
            writer_child(p[1], 1);   /* waits for the reader: every record must arrive */
        }
    }
    close(p[1]);
    sl_reader *r = sl_reader_open_fd(p[0], NULL, NULL);
    CHECK(r != NULL);
    uint64_t counts[5] = {0};
    sl_record rec;
    int rc;
    while ((rc = sl_reader_next(r, &rec)) == SL_OK) counts[rec.type]++;
    CHECK_EQ_INT(rc, SL_EOF);
    for (int k = 0; k < WRITERS; k++) {
        int status = wait_bounded(kids[k], 60);
        CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* the programs' own lines are the only lines that are not records */
    uint64_t program_lines = (uint64_t)WRITERS * (SPANS / PROGRAM_LINE_EVERY);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), program_lines);
    CHECK_EQ_INT(counts[SL_REC_META], WRITERS);
    CHECK_EQ_INT(counts[SL_REC_START], (uint64_t)WRITERS * SPANS);
    CHECK_EQ_INT(counts[SL_REC_END], (uint64_t)WRITERS * SPANS);
    sl_reader_close(r);
    close(p[0]);
}

/* ===== A READER THAT STOPS READING ===== */

/* The traced program: SPANS spans into fd (nobody reads yet), then a
 * report on the control pipe: dropped count and close()'s result. */
static void stalled_child(int fd, int ctl)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_FD;
    c.fd = fd;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    if (!t) _exit(3);
    for (int i = 0; i < STALL_SPANS; i++) span_with_attrs(t, i);
    sl_stats st;
    sl_tracer_stats(t, &st);
    int flush_rc = sl_tracer_flush(t);   /* bounded too: the output has no room */
    int64_t msg[3] = {(int64_t)st.dropped, flush_rc, 0};
    msg[2] = sl_tracer_close(t);
    if (write(ctl, msg, sizeof msg) != (ssize_t)sizeof msg) _exit(5);
    _exit(st.spans_started == STALL_SPANS ? 0 : 4);
}

static void check_stalled(int out_read, int out_write)
{
    int ctl[2];
    CHECK(pipe(ctl) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(out_read);
        close(ctl[0]);
        stalled_child(out_write, ctl[1]);
    }
    close(ctl[1]);
    /* nobody reads out_read until the program is done */
    int status = wait_bounded(pid, 60);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int64_t msg[3] = {0, 0, 0};
    CHECK(read(ctl[0], msg, sizeof msg) == (ssize_t)sizeof msg);
    CHECK(msg[0] > 0);                      /* records were dropped, and counted */
    CHECK_EQ_INT(msg[1], SL_ETIMEDOUT);     /* flush says the output is stalled */
    CHECK_EQ_INT(msg[2], SL_ETIMEDOUT);     /* so does close, in bounded time */
    close(ctl[0]);
    /* what did get out is whole records */
    close(out_write);
    sl_reader *r = sl_reader_open_fd(out_read, NULL, NULL);
    sl_record rec;
    uint64_t n = 0;
    while (sl_reader_next(r, &rec) == SL_OK) n++;
    CHECK(n > 0);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 0);
    sl_reader_close(r);
    close(out_read);
}

static void test_stalled_pipe(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    check_stalled(p[0], p[1]);
}

static void test_stalled_socket(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    check_stalled(sv[0], sv[1]);
}

/* Exit with a stalled reader: the atexit flush gives up after about 1 s. */
static void test_exit_with_stalled_reader(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sl_config c;
        sl_config_init(&c);
        c.sink = SL_SINK_FD;
        c.fd = p[1];
        sl_tracer *t = sl_tracer_open(&c, NULL);
        for (int i = 0; i < STALL_SPANS; i++) span_with_attrs(t, i);
        exit(0);   /* still open: atexit flushes */
    }
    int status = wait_bounded(pid, 60);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(p[0]);
    close(p[1]);
}

/* ===== DROPS REPORTED IN THE STREAM ===== */

typedef struct drain_arg {
    int fd;
    uint64_t last_dropped;   /* the "dropped" of the last meta record */
    uint64_t records;
    uint64_t bad;
} drain_arg;

static void *read_all(void *p)
{
    drain_arg *a = p;
    sl_reader *r = sl_reader_open_fd(a->fd, NULL, NULL);
    sl_record rec;
    while (sl_reader_next(r, &rec) == SL_OK) {
        a->records++;
        if (rec.type != SL_REC_META) continue;
        const char *d = memmem(rec.raw, rec.raw_len, "\"dropped\":", 10);
        if (d) a->last_dropped = strtoull(d + 10, NULL, 10);   /* digits, then '}' */
    }
    a->bad = sl_reader_bad_lines(r, NULL, 0);
    sl_reader_close(r);
    return NULL;
}

static void test_drops_reported(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_FD;
    c.fd = p[1];
    c.buffer_size = 64 * 1024;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    for (int i = 0; i < 50000; i++) span_with_attrs(t, i);   /* nobody reads: drops */
    sl_stats before;
    sl_tracer_stats(t, &before);
    CHECK(before.dropped > 0);
    /* the reader comes back */
    drain_arg a = {p[0], 0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, read_all, &a) == 0);
    for (int i = 0; i < 1000; i++) span_with_attrs(t, i);
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    sl_stats after;
    sl_tracer_stats(t, &after);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
    close(p[1]);
    pthread_join(th, NULL);
    close(p[0]);
    CHECK_EQ_INT(a.bad, 0);
    CHECK(a.last_dropped >= before.dropped);
    CHECK_EQ_INT(a.last_dropped, after.dropped);
    CHECK_EQ_INT(a.records, after.records);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_shared_pipe();
    test_stalled_pipe();
    test_stalled_socket();
    test_exit_with_stalled_reader();
    test_drops_reported();
    return CHECK_DONE();
}
