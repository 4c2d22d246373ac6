/*
 * test_recorder.c: the flight recorder. Records stay in memory (the output
 * gets nothing while tracing), the oldest whole records are overwritten, a
 * dump writes a meta record and the newest records (to a path, or the
 * output) and empties the recorder, SIGUSR1 asks for a dump of a running
 * process (and has its default action back once no recorder is open), and
 * a crash with the crash handler writes what it holds.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static char out_path[64], dump_path[64];

typedef struct seen {
    int records, bad, meta, first_i, last_i, starts, ends;
} seen;

/* Reads a stream; spans carry an attribute i (0, 1, 2, ...). */
static seen read_stream(const char *path)
{
    seen s = {0, 0, 0, -1, -1, 0, 0};
    sl_reader *r = sl_reader_open_path(path, NULL, NULL);
    if (!r) return s;
    sl_record rec;
    while (sl_reader_next(r, &rec) == SL_OK) {
        s.records++;
        s.meta += rec.type == SL_REC_META;
        s.ends += rec.type == SL_REC_END;
        if (rec.type != SL_REC_START) continue;
        s.starts++;
        const char *p = rec.attrs_json ? strstr(rec.attrs_json, "\"i\":") : NULL;
        if (!p) continue;
        int i = atoi(p + 4);
        if (s.first_i < 0) s.first_i = i;
        s.last_i = i;
    }
    s.bad = (int)sl_reader_bad_lines(r, NULL, 0);
    sl_reader_close(r);
    return s;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static sl_tracer *open_recorder(size_t bytes)
{
    unlink(out_path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = out_path;
    c.recorder_size = bytes;
    c.flush_interval_ms = 10;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    return t;
}

static void spans(sl_tracer *t, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        sl_attr a = {"i", 1, SL_ATTR_INT, {.i = i}};
        sl_start_opts o;
        memset(&o, 0, sizeof o);
        o.attrs = &a;
        o.nattrs = 1;
        sl_span s;
        sl_span_begin(t, &s, "work", 4, &o);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
}

static void test_keeps_newest(void)
{
    sl_tracer *t = open_recorder(16 * 1024);
    struct sigaction cur;
    sigaction(SIGUSR1, NULL, &cur);
    CHECK(cur.sa_handler != SIG_DFL);   /* SIGUSR1 asks for a dump now */
    spans(t, 0, 10000);
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    CHECK_EQ_INT(file_size(out_path), 0);   /* nothing written while recording */
    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK(st.overwritten > 0);
    CHECK_EQ_INT(st.dropped, 0);

    unlink(dump_path);
    CHECK_EQ_INT(sl_tracer_dump(t, dump_path), SL_OK);
    seen s = read_stream(dump_path);
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.meta, 1);
    CHECK_EQ_INT(s.last_i, 9999);                 /* the newest span is there */
    CHECK(s.first_i > 0);                         /* the oldest were overwritten */
    CHECK(s.records > 50 && s.records < 1000);    /* about 16 KiB of records */
    /* consecutive spans: nothing in the middle went missing */
    CHECK_EQ_INT(s.last_i - s.first_i + 1, s.starts);
    CHECK_EQ_INT((uint64_t)s.records - 1 + st.overwritten, 2 * 10000);   /* kept + overwritten */

    /* a dump empties the recorder: the next one holds only newer records */
    spans(t, 10000, 3);
    CHECK_EQ_INT(sl_tracer_dump(t, dump_path), SL_OK);
    s = read_stream(dump_path);
    CHECK_EQ_INT(s.records, 1 + 6);
    CHECK_EQ_INT(s.first_i, 10000);
    /* to the output, when no path is given */
    spans(t, 20000, 2);
    CHECK_EQ_INT(sl_tracer_dump(t, NULL), SL_OK);
    s = read_stream(out_path);
    CHECK_EQ_INT(s.records, 1 + 4);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
    CHECK_EQ_INT(read_stream(out_path).records, 1 + 4);   /* close does not dump */
    sigaction(SIGUSR1, NULL, &cur);
    CHECK(cur.sa_handler == SIG_DFL);   /* the last recorder gave SIGUSR1 back */
}

static void test_not_a_recorder(void)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK_EQ_INT(sl_tracer_dump(t, dump_path), SL_EINVAL);
    sl_tracer_close(t);
    c.recorder_size = 4096;   /* needs a path or fd */
    CHECK(sl_tracer_open(&c, NULL) == NULL);
}

/* SIGUSR1 to a process with a recorder: its writer thread dumps. */
static void test_sigusr1(void)
{
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        sl_tracer *t = open_recorder(64 * 1024);
        spans(t, 0, 100);
        sl_tracer_flush(t);
        if (write(ready[1], "r", 1) != 1) _exit(3);
        for (;;) pause();   /* SIGUSR1 does not end it */
    }
    close(ready[1]);
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    kill(pid, SIGUSR1);
    seen s = {0, 0, 0, -1, -1, 0, 0};
    for (int i = 0; i < 1000 && s.records < 1 + 200; i++) {   /* up to 10 s */
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        s = read_stream(out_path);
    }
    CHECK_EQ_INT(s.records, 1 + 200);
    CHECK_EQ_INT(s.bad, 0);
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, WNOHANG), 0);   /* still running */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

/* A crash: the handler writes what the recorder holds, then the process
 * dies of its signal. */
static void test_crash_dumps(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        sl_tracer *t = open_recorder(16 * 1024);
        sl_crash_handler_install();
        spans(t, 0, 5000);
        sl_span open;
        sl_span_begin(t, &open, "open", 4, NULL);
        abort();
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    seen s = read_stream(out_path);
    CHECK_EQ_INT(s.bad, 0);
    CHECK_EQ_INT(s.meta, 1);
    CHECK_EQ_INT(s.last_i, 4999);
    CHECK(s.first_i > 0);
    CHECK(s.records < 400);   /* what 16 KiB hold, not everything still buffered */
    CHECK(s.starts >= 2);
    CHECK_EQ_INT(s.ends, s.starts);   /* "open" ended as abandoned */
}

int main(void)
{
    snprintf(out_path, sizeof out_path, "/tmp/sl-test-rec-%d.jsonl", (int)getpid());
    snprintf(dump_path, sizeof dump_path, "/tmp/sl-test-rec-dump-%d.jsonl", (int)getpid());
    test_keeps_newest();
    test_not_a_recorder();
    test_sigusr1();
    test_crash_dumps();
    unlink(out_path);
    unlink(dump_path);
    return CHECK_DONE();
}
