/*
 * sink.c: where encoded bytes go: a path (O_APPEND), an fd the caller owns, a
 * callback, or memory.
 *
 * Key ideas. A sink write never raises SIGPIPE and never changes the host's
 * signal dispositions: SIGPIPE is blocked on this thread around the write
 * and a SIGPIPE it caused is consumed before the mask is restored (the
 * writer thread blocks it for good). A regular file takes a batch in one
 * write (O_APPEND keeps writers from several processes apart). Anything else
 * (a pipe, a socket, a terminal) is "chunked": the tracer hands it whole
 * records of at most PIPE_BUF bytes, which a pipe writes atomically, and each
 * write waits for room with poll() first, so a write never blocks on a
 * reader that stopped reading: a wait ends after a given time without
 * progress (the caller's patience) instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

_Thread_local int sl_sink_sigpipe_blocked;

uint64_t sl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void classify_fd(sl_sink *s)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0 || S_ISREG(st.st_mode)) return;
    s->chunked = 1;
    s->socket = S_ISSOCK(st.st_mode);
}

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
        classify_fd(s);   /* a FIFO or /dev/stderr is a path too */
        return SL_OK;
    case SL_SINK_FD:
        if (cfg->fd < 0) {
            sl_set_error(err, SL_EINVAL, 0, "sink fd: bad fd %d", cfg->fd);
            return SL_EINVAL;
        }
        s->fd = cfg->fd;
        classify_fd(s);
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

/* Waits until fd has room, for at most `patience` ns or until give_up_at:
 * 0, or EAGAIN. The wait is cut in slices so that give_up_at, set meanwhile
 * by an emergency flush, is seen within one slice. */
static int wait_writable(sl_sink *s, uint64_t patience)
{
    uint64_t until = patience == SL_WAIT_FOREVER ? SL_WAIT_FOREVER
                   : patience == SL_WAIT_NONE     ? SL_WAIT_NONE
                                                  : sl_mono_ns() + patience;
    for (;;) {
        uint64_t limit = until;
        uint64_t give_up = atomic_load_explicit(&s->give_up_at, memory_order_relaxed);
        if (give_up && give_up < limit) limit = give_up;
        int slice = 0;
        if (limit != SL_WAIT_NONE) {
            uint64_t now = sl_mono_ns();
            if (limit != SL_WAIT_FOREVER && now >= limit) slice = 0;
            else slice = limit == SL_WAIT_FOREVER || limit - now > 20000000u ? 20 : (int)((limit - now) / 1000000u) + 1;
        }
        struct pollfd p = {s->fd, POLLOUT, 0};
        int n = poll(&p, 1, 0);
        if (n == 0 && slice) n = poll(&p, 1, slice);
        if (n > 0) {
            atomic_store_explicit(&s->no_room, 0, memory_order_relaxed);
            return 0;   /* room, or an error the write will report */
        }
        if (n < 0 && errno != EINTR) return 0;
        atomic_store_explicit(&s->no_room, 1, memory_order_relaxed);
        if (n == 0 && slice == 0) return EAGAIN;
    }
}

/* Writes all of data, or up to the first error; *done counts what got out. */
static int write_all(sl_sink *s, const char *data, size_t len, uint64_t patience, size_t *done)
{
    while (len) {
        size_t piece = len;
        if (s->chunked) {
            int e = wait_writable(s, patience);
            if (e) return e;
            if (piece > PIPE_BUF) piece = PIPE_BUF;
        }
        ssize_t n = s->socket ? send(s->fd, data, piece, MSG_DONTWAIT | MSG_NOSIGNAL)
                              : write(s->fd, data, piece);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (s->chunked && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;  /* poll again */
            return errno ? errno : EIO;
        }
        if (n == 0) return EIO;
        data += n;
        len -= (size_t)n;
        *done += (size_t)n;
    }
    return 0;
}

static int write_fd(sl_sink *s, const char *data, size_t len, uint64_t patience, size_t *done)
{
    if (sl_sink_sigpipe_blocked || s->socket) return write_all(s, data, len, patience, done);
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    int e = write_all(s, data, len, patience, done);
    if (e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

int sl_sink_write(sl_sink *s, const char *data, size_t len, uint64_t patience, size_t *written)
{
    size_t done = 0;
    int e = 0;
    if (len) {
        switch (s->kind) {
        case SL_SINK_PATH:
        case SL_SINK_FD:
            e = write_fd(s, data, len, patience, &done);
            break;
        case SL_SINK_CALLBACK:
            e = s->write(s->ud, data, len);
            if (!e) done = len;
            break;
        case SL_SINK_MEMORY:
            /* one spare byte: the bytes stay NUL-terminated (sl_tracer_memory) */
            if (len == SIZE_MAX || sl_buf_reserve(&s->mem, len + 1) != 0) {
                e = ENOMEM;
                break;
            }
            memcpy(s->mem.ptr + s->mem.len, data, len);
            s->mem.len += len;
            s->mem.ptr[s->mem.len] = '\0';
            done = len;
            break;
        case SL_SINK_OTLP:
            e = sl_otlp_sink_write(s->otlp, data, len);
            if (!e) done = len;
            break;
        default:
            e = EINVAL;
        }
    }
    if (written) *written = done;
    return e;
}

void sl_sink_close(sl_sink *s)
{
    if (s->owns_fd && s->fd >= 0) close(s->fd);
    s->fd = -1;
    sl_buf_free(&s->mem);
    sl_otlp_sink_close(s->otlp);
    s->otlp = NULL;
}
