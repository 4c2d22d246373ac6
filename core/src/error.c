/*
 * error.c: the core's one way to report a failure in words: sl_strerror for
 * a code, sl_set_error to fill a caller's sl_error.
 *
 * Key idea: a failure is a code (an sl_code, what callers branch on) plus an
 * optional sl_error the caller passes in (a message for people, and the
 * errno behind an SL_EIO); NULL means the caller wants the code only.
 */
#include <stdarg.h>
#include <stdio.h>

#include "text.h"

const char *sl_strerror(int code)
{
    switch (code) {
    case SL_OK: return "ok";
    case SL_EINVAL: return "invalid argument";
    case SL_ENOMEM: return "out of memory";
    case SL_EIO: return "input/output error";
    case SL_ECLOSED: return "tracer is closed";
    case SL_ESTATE: return "span already ended";
    case SL_EPARSE: return "parse error";
    case SL_EOF: return "end of input";
    case SL_EAGAIN: return "no complete record yet";
    case SL_ETIMEDOUT: return "output not writable in time (a stalled reader?)";
    }
    return "unknown error";
}

void sl_set_error(sl_error *err, sl_code code, int sys_errno, const char *fmt, ...)
{
    if (!err) return;
    err->code = code;
    err->sys_errno = sys_errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}
