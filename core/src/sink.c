/*
 * sink.c: where encoded bytes go: a path (O_APPEND), an fd the caller owns, a
 * callback, or memory.
 *
 * Key idea: a sink write never raises SIGPIPE and never changes the host's
 * signal dispositions: SIGPIPE is blocked on this thread around the write
 * and a SIGPIPE it caused is consumed before the mask is restored (the
 * writer thread blocks it for good). Short writes are retried for the rest;
 * errors come back as errno values for the tracer to count.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

_Thread_local int sl_sink_sigpipe_blocked;

int sl_sink_open(sl_sink *s, const sl_config *cfg, sl_error *err)
{
    memset(s, 0, sizeof *s);
    s->kind = cfg->sink;
    s->fd = -1;
    switch (cfg->sink) {
    case SL_SINK_PATH:
        if (!cfg->path || !*cfg->path) {
            sl_set_error(err, SL_EINVAL, 0, "sink path: no path given");
            return SL_EINVAL;
        }
        s->fd = open(cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (s->fd < 0) {
            int e = errno;
            sl_set_error(err, SL_EIO, e, "%s: %s", cfg->path, strerror(e));
            return SL_EIO;
        }
        s->owns_fd = 1;
        return SL_OK;
    case SL_SINK_FD:
        if (cfg->fd < 0) {
            sl_set_error(err, SL_EINVAL, 0, "sink fd: bad fd %d", cfg->fd);
            return SL_EINVAL;
        }
        s->fd = cfg->fd;
        return SL_OK;
    case SL_SINK_CALLBACK:
        if (!cfg->write) {
            sl_set_error(err, SL_EINVAL, 0, "sink callback: no write function");
            return SL_EINVAL;
        }
        s->write = cfg->write;
        s->ud = cfg->write_ud;
        return SL_OK;
    case SL_SINK_MEMORY:
        return SL_OK;
    case SL_SINK_OTLP:
        return sl_otlp_sink_open(&s->otlp, cfg, err);
    }
    sl_set_error(err, SL_EINVAL, 0, "unknown sink kind %d", (int)cfg->sink);
    return SL_EINVAL;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EIO;
        }
        if (n == 0) return EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_fd(int fd, const char *data, size_t len)
{
    if (sl_sink_sigpipe_blocked) return write_all(fd, data, len);
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    int e = write_all(fd, data, len);
    if (e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

int sl_sink_write(sl_sink *s, const char *data, size_t len)
{
    if (!len) return 0;
    switch (s->kind) {
    case SL_SINK_PATH:
    case SL_SINK_FD:
        return write_fd(s->fd, data, len);
    case SL_SINK_CALLBACK:
        return s->write(s->ud, data, len);
    case SL_SINK_MEMORY:
        /* one spare byte: the bytes stay NUL-terminated (sl_tracer_memory) */
        if (len == SIZE_MAX || sl_buf_reserve(&s->mem, len + 1) != 0) return ENOMEM;
        memcpy(s->mem.p + s->mem.len, data, len);
        s->mem.len += len;
        s->mem.p[s->mem.len] = '\0';
        return 0;
    case SL_SINK_OTLP:
        return sl_otlp_sink_write(s->otlp, data, len);
    }
    return EINVAL;
}

void sl_sink_close(sl_sink *s)
{
    if (s->owns_fd && s->fd >= 0) close(s->fd);
    s->fd = -1;
    sl_buf_free(&s->mem);
    sl_otlp_sink_close(s->otlp);
    s->otlp = NULL;
}
