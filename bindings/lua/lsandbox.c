/*
 * lsandbox.c: core.bounded(fn, seconds, bytes, on_limit): fn wrapped so
 * that each call runs under a time budget and a memory budget, for code the
 * user typed on a command line (--where expressions).
 *
 * Key ideas. Memory: for the length of one call the state's allocator is
 * swapped for one that counts what the call allocates and refuses past the
 * budget (Lua then raises a memory error, after an emergency collection);
 * it is put back before the call returns, whatever happens. Time: a count
 * hook on every call would cost more than a small expression itself (Lua
 * runs every instruction through the hook check while one is set), so a
 * watchdog thread looks at the call under way every 10 ms, measures the CPU
 * time the calling thread spent since it first saw that call (CPU, not wall
 * time: a loaded machine must not fail a fine expression), and only when
 * that passes the budget sets a hook (count 1, as lua.c does from its
 * SIGINT handler) that raises the error at the next instruction of the
 * same call; a hook that fires after that call ended just removes itself.
 * A call costs the watchdog nothing but a few stores.
 * A call that hits a limit raises the value on_limit(kind) returns ("time"
 * or "memory"), and so does every later call (the wrapped function is
 * spent), so a caller that counts errors and goes on stops paying for them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "lbinding.h"

enum { HIT_TIME = 1, HIT_MEMORY = 2 };

typedef struct bounded_run {
    lua_Alloc f;           /* the state's own allocator */
    void *ud;
    size_t used, budget;   /* bytes allocated during the call */
    _Atomic int hit;       /* 0, HIT_TIME, HIT_MEMORY */
} bounded_run;

/* ===== MEMORY ===== */

static void *bounded_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    bounded_run *run = (bounded_run *)ud;
    size_t old = ptr ? osize : 0;   /* with no block, osize is a type tag */
    if (nsize > old && run->used + (nsize - old) > run->budget) {
        atomic_store(&run->hit, HIT_MEMORY);
        return NULL;
    }
    void *p = run->f(run->ud, ptr, osize, nsize);
    if (nsize > old) {
        if (p) run->used += nsize - old;
    } else {
        run->used = run->used > old - nsize ? run->used - (old - nsize) : 0;
    }
    return p;
}

/* ===== TIME: THE WATCHDOG ===== */

static struct {
    pthread_mutex_t mu;         /* start and stop of the thread */
    pthread_t thread;
    int running;
    _Atomic int stop;
    _Atomic(lua_State *) L;     /* the state in a bounded call, or NULL */
    _Atomic(bounded_run *) run;
    _Atomic uint64_t budget;    /* CPU ns the call may use */
    _Atomic clockid_t cpu;      /* the CPU clock of the calling thread */
    _Atomic uint64_t call;      /* bumped per call */
    _Atomic uint64_t fired;     /* the call the watchdog set the hook for */
} g_watch = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t cpu_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    bounded_run *run = atomic_load(&g_watch.run);
    if (atomic_load(&g_watch.L) != L || !run || atomic_load(&g_watch.fired) != atomic_load(&g_watch.call))
        return;   /* that call is over: the host's code goes on */
    atomic_store(&run->hit, HIT_TIME);
    luaL_error(L, "time limit");
}

static void *watchdog(void *arg)
{
    (void)arg;
    uint64_t seen = 0, cpu_at_seen = 0;   /* the call under watch, and its thread's CPU then */
    while (!atomic_load(&g_watch.stop)) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        lua_State *L = atomic_load_explicit(&g_watch.L, memory_order_acquire);
        uint64_t call = atomic_load(&g_watch.call);
        if (!L || atomic_load(&g_watch.fired) == call) continue;
        uint64_t cpu = cpu_ns(atomic_load_explicit(&g_watch.cpu, memory_order_relaxed));
        if (call != seen) {
            seen = call;
            cpu_at_seen = cpu;
            continue;
        }
        if (cpu - cpu_at_seen > atomic_load(&g_watch.budget)) {
            atomic_store(&g_watch.fired, call);
            lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
        }
    }
    return NULL;
}

/* The watchdog stops before the state (and this library) goes away. */
static int watch_gc(lua_State *L)
{
    (void)L;
    pthread_mutex_lock(&g_watch.mu);
    if (g_watch.running) {
        atomic_store(&g_watch.stop, 1);
        pthread_join(g_watch.thread, NULL);
        g_watch.running = 0;
        atomic_store(&g_watch.stop, 0);
    }
    pthread_mutex_unlock(&g_watch.mu);
    return 0;
}

static void watch_start(lua_State *L)
{
    pthread_mutex_lock(&g_watch.mu);
    int started = g_watch.running || pthread_create(&g_watch.thread, NULL, watchdog, NULL) == 0;
    int fresh = started && !g_watch.running;
    g_watch.running = started;
    pthread_mutex_unlock(&g_watch.mu);
    if (!fresh) return;
    lua_newuserdatauv(L, 1, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, watch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, (void *)&g_watch);
}

/* ===== THE CALL ===== */

/* What a wrapped function's calls share, worked out once (upvalue 2). */
struct lsl_bounded {
    uint64_t budget_ns;    /* CPU ns per call */
    size_t bytes;          /* bytes per call */
    int spent;             /* a limit was hit: every call raises upvalue 4 */
    int have_cpu;          /* cpu is the CPU clock of thread */
    pthread_t thread;
    clockid_t cpu;
};
typedef lsl_bounded bounded_cfg;

/* The calling thread's CPU clock, looked up once per thread that calls. */
static void set_cpu_clock(bounded_cfg *cfg)
{
    pthread_t self = pthread_self();
    if (!cfg->have_cpu || !pthread_equal(cfg->thread, self)) {
        cfg->have_cpu = pthread_getcpuclockid(self, &cfg->cpu) == 0;
        cfg->thread = self;
    }
    if (cfg->have_cpu) atomic_store_explicit(&g_watch.cpu, cfg->cpu, memory_order_relaxed);
}

/* Calls the function below its nargs arguments (at the stack top) as
 * lua_pcall(L, nargs, nresults, 0) does, under cfg's budgets; *hit: the
 * limit it hit (0: none). */
static int run_bounded(lua_State *L, bounded_cfg *cfg, int nargs, int nresults, int *hit)
{
    bounded_run run;
    memset(&run, 0, sizeof run);
    run.f = lua_getallocf(L, &run.ud);
    run.budget = cfg->bytes;
    /* relaxed stores and one release: the watchdog may see a call late,
     * never one that is not set up */
    atomic_store_explicit(&g_watch.run, &run, memory_order_relaxed);
    atomic_store_explicit(&g_watch.budget, cfg->budget_ns, memory_order_relaxed);
    set_cpu_clock(cfg);
    atomic_store_explicit(&g_watch.call, atomic_load_explicit(&g_watch.call, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&g_watch.L, L, memory_order_release);
    lua_setallocf(L, bounded_alloc, &run);
    int status = lua_pcall(L, nargs, nresults, 0);
    lua_setallocf(L, run.f, run.ud);
    atomic_store_explicit(&g_watch.L, NULL, memory_order_release);
    *hit = status == LUA_OK ? 0 : atomic_load(&run.hit);
    return status;
}

/* A limit was hit: the error on the stack top is replaced by what
 * on_limit(kind) returns, which every later call raises (the function at
 * fidx is spent). */
static void spend(lua_State *L, bounded_cfg *cfg, int fidx, int hit)
{
    lua_pop(L, 1);
    lua_getupvalue(L, fidx, 3);
    lua_pushstring(L, hit == HIT_TIME ? "time" : "memory");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setupvalue(L, fidx, 4);
    cfg->spent = 1;
}

/* Upvalues: 1 fn, 2 its bounded_cfg, 3 on_limit, 4 the spent error (nil
 * until a limit is hit). */
static int l_bounded_call(lua_State *L)
{
    bounded_cfg *cfg = lua_touserdata(L, lua_upvalueindex(2));
    if (cfg->spent) {
        lua_pushvalue(L, lua_upvalueindex(4));
        return lua_error(L);
    }
    int nargs = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    int hit;
    int status = run_bounded(L, cfg, nargs, LUA_MULTRET, &hit);
    if (status == LUA_OK) return lua_gettop(L);
    if (!hit) return lua_error(L);   /* the expression's own error, unchanged */
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_pushstring(L, hit == HIT_TIME ? "time" : "memory");
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_replace(L, lua_upvalueindex(4));
    cfg->spent = 1;
    return lua_error(L);
}

lsl_bounded *lsl_bounded_open(lua_State *L, int idx)
{
    if (lua_tocfunction(L, idx) != l_bounded_call) return NULL;
    lua_getupvalue(L, idx, 2);
    bounded_cfg *cfg = lua_touserdata(L, -1);
    lua_pop(L, 1);
    lua_getupvalue(L, idx, 1);
    return cfg;
}

int lsl_bounded_pcall(lua_State *L, lsl_bounded *cfg, int fidx, int nargs, int nresults)
{
    if (cfg->spent) {
        lua_pop(L, nargs + 1);
        lua_getupvalue(L, fidx, 4);
        return LUA_ERRRUN;
    }
    int hit;
    int status = run_bounded(L, cfg, nargs, nresults, &hit);
    if (status != LUA_OK && hit) spend(L, cfg, fidx, hit);
    return status;
}

/* core.bounded(fn, seconds, bytes, on_limit) -> function */
static int l_bounded(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_Number seconds = luaL_checknumber(L, 2);
    lua_Integer bytes = luaL_checkinteger(L, 3);
    luaL_argcheck(L, seconds > 0 && seconds < 1e6, 2, "must be a positive number of seconds");
    luaL_argcheck(L, bytes > 0, 3, "must be positive");
    luaL_checktype(L, 4, LUA_TFUNCTION);
    watch_start(L);
    lua_settop(L, 4);
    bounded_cfg *cfg = lua_newuserdatauv(L, sizeof *cfg, 0);
    memset(cfg, 0, sizeof *cfg);
    cfg->budget_ns = (uint64_t)(seconds * 1e9);
    cfg->bytes = (size_t)bytes;
    lua_replace(L, 2);
    lua_replace(L, 3);   /* on_limit */
    lua_pushnil(L);      /* 4: the spent error */
    lua_pushcclosure(L, l_bounded_call, 4);
    return 1;
}

void lsl_open_sandbox(lua_State *L)
{
    lua_pushcfunction(L, l_bounded);
    lua_setfield(L, -2, "bounded");
}
