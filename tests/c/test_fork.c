/*
 * test_fork.c: a tracer survives fork. The child gets no copy of what the
 * parent had buffered (the parent writes that once), announces itself with
 * its own meta record, traces on without a writer thread, and flushes at
 * exit; the parent's writer goes on.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/sl-test-fork-%d.jsonl", (int)getpid());
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    c.flush_interval_ms = 100000;   /* nothing leaves before fork */
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    sl_span outer;
    sl_span_begin(t, &outer, "parent-before-fork", 18, NULL);
    char outer_id[33];
    sl_id_to_hex(&outer.id, outer_id);

    pid_t pid = fork();
    if (pid == 0) {
        sl_span s;
        sl_span_begin(t, &s, "child-span", 10, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
        exit(0);   /* the atexit handler flushes */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    sl_span_end(&outer, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);

    CHECK_EQ_INT(check_count_lines(path, "\"type\":\"meta\""), 2);
    char pidpat[32];
    snprintf(pidpat, sizeof pidpat, "\"pid\":%d,", (int)pid);
    CHECK_EQ_INT(check_count_lines(path, pidpat), 1);
    CHECK_EQ_INT(check_count_lines(path, "\"name\":\"parent-before-fork\""), 1);
    CHECK_EQ_INT(check_count_lines(path, "\"name\":\"child-span\""), 1);
    CHECK_EQ_INT(check_count_lines(path, outer_id), 2);   /* its start and its end, once each */
    CHECK_EQ_INT(check_count_lines(path, "\"type\":\"end\""), 2);
    unlink(path);
    return CHECK_DONE();
}
