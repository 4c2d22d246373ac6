/*
 * test_crash.c: what a dying process still writes, with real signals in
 * child processes. With the crash handler installed, a real segfault, a
 * real bus error and abort() each leave every buffered record in the file
 * and an "abandoned" end for the span that was open, and the process still
 * dies of its signal (its exit status is what it would have been). SIGTERM
 * with the flush-on-signal handler does the same; without any handler the
 * buffered records are lost (the reason for the handlers).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define SPANS 1000

static char path[64];

typedef enum { CRASH_SEGV, CRASH_BUS, CRASH_ABORT, WAIT_TERM } ending;

static void die(ending how, int ready_fd)
{
    long page = sysconf(_SC_PAGESIZE);
    switch (how) {
    case CRASH_SEGV: {
        volatile char *p = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;   /* a real invalid access */
        break;
    }
    case CRASH_BUS: {
        char tmp[] = "/tmp/sl-test-crash-bus-XXXXXX";
        int fd = mkstemp(tmp);
        unlink(tmp);
        volatile char *p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 0);
        (void)p[0];  /* past the end of an empty file */
        break;
    }
    case CRASH_ABORT:
        abort();
    case WAIT_TERM:
        if (write(ready_fd, "r", 1) != 1) _exit(6);
        for (;;) pause();
    }
    _exit(7);   /* not reached */
}

/* The traced program: a span left open, SPANS finished ones, all still
 * buffered (no writer thread, no interval flush), then the end. */
static void traced_child(ending how, int handler, int ready_fd)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    c.background = 0;
    c.flush_interval_ms = 1000000;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    if (!t) _exit(3);
    if (handler && how == WAIT_TERM) {
        if (sl_signal_flush_install(SIGTERM) != SL_OK) _exit(4);
    } else if (handler && sl_crash_handler_install() != SL_OK) {
        _exit(4);
    }
    sl_span outer;
    sl_span_begin(t, &outer, "outer", 5, NULL);
    for (int i = 0; i < SPANS; i++) {
        sl_span s;
        sl_span_begin(t, &s, "work", 4, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    die(how, ready_fd);
}

typedef struct found {
    int records, bad, abandoned, outer_start;
} found;

static found read_file(void)
{
    found f = {0, 0, 0, 0};
    sl_reader *r = sl_reader_open_path(path, NULL, NULL);
    if (!r) return f;
    sl_record rec;
    while (sl_reader_next(r, &rec) == SL_OK) {
        f.records++;
        if (rec.type == SL_REC_END && rec.status_len == 9 && !memcmp(rec.status, "abandoned", 9)) f.abandoned++;
        if (rec.type == SL_REC_START && rec.name_len == 5 && !memcmp(rec.name, "outer", 5)) f.outer_start++;
    }
    f.bad = (int)sl_reader_bad_lines(r, NULL, 0);
    sl_reader_close(r);
    return f;
}

static int run(ending how, int handler, int signo)
{
    unlink(path);
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        traced_child(how, handler, ready[1]);
    }
    close(ready[1]);
    if (how == WAIT_TERM) {
        char c;
        CHECK(read(ready[0], &c, 1) == 1);
        kill(pid, SIGTERM);
    }
    close(ready[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    /* the process ends as it would have without us (ASan reports a fault
     * from its own handler, which ours hands the signal back to) */
    if (UNDER_ASAN && signo != SIGTERM && signo != SIGABRT) CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
    else CHECK(WIFSIGNALED(status) && WTERMSIG(status) == signo);
    return status;
}

static void test_crash(ending how, int signo)
{
    run(how, 1, signo);
    found f = read_file();
    CHECK_EQ_INT(f.bad, 0);
    CHECK_EQ_INT(f.records, 1 + 1 + 2 * SPANS + 1);   /* meta, outer, the spans, outer's end */
    CHECK_EQ_INT(f.outer_start, 1);
    CHECK_EQ_INT(f.abandoned, 1);
}

static void test_without_handler(void)
{
    /* the baseline the handlers exist for: buffered records die with us */
    run(CRASH_ABORT, 0, SIGABRT);
    found f = read_file();
    CHECK_EQ_INT(f.records, 1);   /* the meta record, written at open */
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/sl-test-crash-%d.jsonl", (int)getpid());
    test_crash(CRASH_SEGV, SIGSEGV);
    test_crash(CRASH_BUS, SIGBUS);
    test_crash(CRASH_ABORT, SIGABRT);
    test_crash(WAIT_TERM, SIGTERM);
    test_without_handler();
    unlink(path);
    return CHECK_DONE();
}
