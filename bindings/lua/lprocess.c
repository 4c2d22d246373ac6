/*
 * lprocess.c: what `spanline run` needs from the process: SIGTERM and
 * SIGHUP handled the way lua5.4 handles SIGINT, and a note printed at exit.
 *
 * Key idea: a signal handler may not run Lua, so it only sets a hook on the
 * main thread (as lua.c does for SIGINT). The hook runs at the next Lua
 * instruction, calls the registered function (spanline run closes the
 * trace there: flush, open spans ended as abandoned), then dies of the same
 * signal, so the exit status is the one the signal gives. The handler
 * restores the default disposition first: a second signal kills at once.
 * Handlers are installed without SA_RESTART, so a program blocked in a
 * read gets back to Lua (and to the hook) instead of waiting on.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbinding.h"

static const int g_signals[] = {SIGTERM, SIGHUP};
#define NSIGNALS (int)(sizeof g_signals / sizeof g_signals[0])

static lua_State *g_main;            /* main thread of the state that asked */
static pthread_t g_lua_thread;
static volatile sig_atomic_t g_pending;
static int g_fn_ref = LUA_NOREF;
static int g_installed;
static struct sigaction g_old[NSIGNALS];

static void restore_default(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int i = 0; i < NSIGNALS; i++) sigaction(g_signals[i], &dfl, NULL);
}

static void die_of(int sig)
{
    restore_default();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig);   /* the signal was blocked or ignored elsewhere */
}

static void on_signal_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    int sig = g_pending;
    lua_sethook(L, NULL, 0, 0);
    if (g_fn_ref != LUA_NOREF && lua_checkstack(L, 3)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, g_fn_ref);
        lua_pushstring(L, sig == SIGTERM ? "SIGTERM" : "SIGHUP");
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
    }
    die_of(sig);
}

static void handler(int sig)
{
    if (!pthread_equal(pthread_self(), g_lua_thread)) {
        pthread_kill(g_lua_thread, sig);   /* async-signal-safe: the Lua thread handles it */
        return;
    }
    if (g_pending) return;
    g_pending = sig;
    restore_default();
    lua_sethook(g_main, on_signal_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* core.on_signals(fn | nil): fn(signame) runs at the next Lua instruction
 * after SIGTERM or SIGHUP, then the process dies of that signal. nil puts
 * the previous handlers back. */
static int l_on_signals(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        if (g_installed) {
            for (int i = 0; i < NSIGNALS; i++) sigaction(g_signals[i], &g_old[i], NULL);
            g_installed = 0;
        }
        luaL_unref(L, LUA_REGISTRYINDEX, g_fn_ref);
        g_fn_ref = LUA_NOREF;
        return 0;
    }
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_unref(L, LUA_REGISTRYINDEX, g_fn_ref);
    lua_pushvalue(L, 1);
    g_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    g_main = lua_tothread(L, -1);
    lua_pop(L, 1);
    g_lua_thread = pthread_self();
    g_pending = 0;
    if (!g_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;   /* no SA_RESTART: a blocked read returns to Lua */
        for (int i = 0; i < NSIGNALS; i++) sigaction(g_signals[i], &sa, &g_old[i]);
        g_installed = 1;
    }
    return 0;
}

/* ===== A NOTE AT EXIT ===== */

static char *g_note;
static size_t g_note_len;
static int g_note_atexit;

static void print_note(void)
{
    if (g_note == NULL) return;
    ssize_t w = write(2, g_note, g_note_len);
    (void)w;
}

/* core.exit_note(text | nil): text goes to stderr when the process exits
 * (os.exit included) unless cleared first. */
static int l_exit_note(lua_State *L)
{
    size_t len = 0;
    const char *text = luaL_optlstring(L, 1, NULL, &len);
    free(g_note);
    g_note = NULL;
    g_note_len = 0;
    if (text && len) {
        g_note = (char *)malloc(len);
        if (g_note == NULL) return luaL_error(L, "not enough memory");
        memcpy(g_note, text, len);
        g_note_len = len;
        if (!g_note_atexit) g_note_atexit = atexit(print_note) == 0;
    }
    return 0;
}

static const luaL_Reg funcs[] = {
    {"on_signals", l_on_signals},
    {"exit_note", l_exit_note},
    {NULL, NULL}
};

void lsl_open_process(lua_State *L)
{
    luaL_setfuncs(L, funcs, 0);
}
