/*
 * lfaults.c: the tracer's bad days at the Lua boundary: write failures as
 * nil, message, code; tracer:dump() (flight recorder); the opt-in crash
 * handler and flush-on-signal handlers of the core (crash.c).
 *
 * Key idea: nothing here runs Lua from a signal handler. The handlers are
 * the core's async-signal-safe ones; Lua only asks for them to be installed.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ltrace.h"

static const char *errno_name(int e)
{
    switch (e) {
    case ENOSPC: return "ENOSPC";
    case EPIPE: return "EPIPE";
    case EBADF: return "EBADF";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EISDIR: return "EISDIR";
    case ENOMEM: return "ENOMEM";
    case ECONNRESET: return "ECONNRESET";
    default: return "EIO";
    }
}

int lsl_write_fail(lua_State *L, int rc, int sys_errno)
{
    if (rc == SL_ETIMEDOUT)
        return lsl_fail(L, "cannot write the trace: the output had no room in time (a reader that stopped reading?)",
                        "ETIMEDOUT");
    if (rc == SL_EIO && sys_errno)
        return lsl_fail(L, lua_pushfstring(L, "cannot write the trace: %s", strerror(sys_errno)),
                        errno_name(sys_errno));
    return lsl_fail(L, lua_pushfstring(L, "cannot write the trace: %s", sl_strerror(rc)),
                    rc == SL_ECLOSED ? "ECLOSED" : rc == SL_EINVAL ? "EINVAL" : "EIO");
}

/* tracer:dump([path]) -> true | nil, message, code: the flight recorder's
 * records to path (created or truncated) or to the tracer's output. */
static int l_tracer_dump(lua_State *L)
{
    lsl_tracer *tr = lsl_tracer_check(L, 1);
    const char *path = luaL_optstring(L, 2, NULL);
    if (tr->t == NULL) return lsl_fail(L, "tracer is closed", "ECLOSED");
    tr->L = L;
    int rc = sl_tracer_dump(tr->t, path);
    if (rc == SL_EINVAL) return lsl_fail(L, "the tracer has no flight recorder (option 'ring')", "EINVAL");
    if (rc != SL_OK) {
        sl_stats s;
        sl_tracer_stats(tr->t, &s);
        if (path && rc == SL_EIO)
            return lsl_fail(L, lua_pushfstring(L, "cannot write '%s': %s", path, strerror(s.last_errno)),
                            errno_name(s.last_errno));
        return lsl_write_fail(L, rc, s.last_errno);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.crash_handler() -> true | nil, message, code: SIGSEGV, SIGBUS,
 * SIGABRT, SIGFPE, SIGILL write what is buffered, then kill as before. */
static int l_crash_handler(lua_State *L)
{
    if (sl_crash_handler_install() != SL_OK) return lsl_fail(L, "cannot install the crash handler", "EIO");
    lua_pushboolean(L, 1);
    return 1;
}

static const char *const signal_names[] = {"SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR2", NULL};
static const int signal_numbers[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR2};

/* core.flush_on_signal(name) -> true | nil, message, code: on that signal,
 * write what is buffered and end open spans as abandoned (the core's
 * async-signal-safe emergency flush), then the signal's previous
 * disposition and the signal again: the process ends as it would have. */
static int l_flush_on_signal(lua_State *L)
{
    int i = luaL_checkoption(L, 1, NULL, signal_names);
    if (sl_signal_flush_install(signal_numbers[i]) != SL_OK)
        return lsl_fail(L, lua_pushfstring(L, "cannot handle %s", signal_names[i]), "EIO");
    lua_pushboolean(L, 1);
    return 1;
}

/* core.emergency_flush() -> records written: what the signal handlers do,
 * callable from Lua (a program's own handler, tests). */
static int l_emergency_flush(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)sl_emergency_flush(lua_toboolean(L, 1)));
    return 1;
}

static const luaL_Reg module_funcs[] = {
    {"crash_handler", l_crash_handler},
    {"flush_on_signal", l_flush_on_signal},
    {"emergency_flush", l_emergency_flush},
    {NULL, NULL}
};

void lsl_open_faults(lua_State *L)
{
    luaL_setfuncs(L, module_funcs, 0);
    lua_getfield(L, -1, "tracer_methods");
    lua_pushcfunction(L, l_tracer_dump);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
}
