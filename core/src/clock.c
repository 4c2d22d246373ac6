/*
 * clock.c: timestamps in integer ns since the Unix epoch.
 *
 * Key idea: realtime is read once (the anchor); after that time advances by
 * a monotonic source, so durations never go negative. On x86_64 with an
 * invariant TSC (constant_tsc + nonstop_tsc) the source is rdtsc mapped to
 * ns by (base_tsc, base_ns, mult) under a seqlock: calibrated briefly at
 * first use, then refined from flush paths, re-based at the current point
 * so the mapping stays continuous, and steered toward CLOCK_MONOTONIC.
 * Elsewhere it is CLOCK_MONOTONIC itself. The read side of the mapping is
 * one inline function (sl_clock_tsc_to_ns, internal.h) for this file and
 * the tracer's hot path alike.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"

#if SL_HAVE_TSC
__extension__ typedef unsigned __int128 sl_u128;
#endif

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t refine_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t anchor_ns;       /* realtime - monotonic, read once */
static int use_tsc;

/* the seqlock'ed mapping (read by sl_clock_tsc_to_ns, internal.h) */
_Atomic uint32_t sl_clk_seq;
_Atomic uint64_t sl_clk_base_tsc, sl_clk_base_ns, sl_clk_mult;
_Atomic int sl_clk_tsc_ready;
#define seq sl_clk_seq
#define base_tsc sl_clk_base_tsc
#define base_ns sl_clk_base_ns
#define mult sl_clk_mult

/* calibration origin and last refinement (refine_mu) */
static uint64_t cal_tsc0, cal_mono0;
static _Atomic uint64_t last_refine_mono;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if SL_HAVE_TSC
static int tsc_invariant(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[4096];
    int ok = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
            break;
        }
    }
    fclose(f);
    return ok;
}

/* A TSC reading paired with CLOCK_MONOTONIC, taken as close together as the
 * machine allows (the tightest of a few tries). */
static void paired_read(uint64_t *tsc, uint64_t *mono)
{
    uint64_t best = UINT64_MAX;
    *tsc = *mono = 0;   /* set by the first pass; said here for the compiler */
    for (int i = 0; i < 5; i++) {
        uint64_t a = __rdtsc();
        uint64_t m = mono_ns();
        uint64_t b = __rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *mono = m;
        }
    }
}

static void clock_prepare_fork(void) { pthread_mutex_lock(&refine_mu); }
static void clock_after_fork(void) { pthread_mutex_unlock(&refine_mu); }
#endif

static void clock_init_once(void)
{
    uint64_t m0 = mono_ns();
    uint64_t r = real_ns();
    uint64_t m1 = mono_ns();
    anchor_ns = r - (m0 + (m1 - m0) / 2);
#if SL_HAVE_TSC
    if (!tsc_invariant()) return;
    uint64_t t0, mo0, t1, mo1;
    paired_read(&t0, &mo0);
    /* a short calibration; sl_clock_refine improves it over a longer base */
    do {
        paired_read(&t1, &mo1);
    } while (mo1 - mo0 < 2000000);
    if (t1 <= t0) return;
    uint64_t m = (uint64_t)(((sl_u128)(mo1 - mo0) << SL_CLK_MULT_SHIFT) / (t1 - t0));
    if (m == 0) return;
    cal_tsc0 = t0;
    cal_mono0 = mo0;
    atomic_store(&last_refine_mono, mo1);
    atomic_store(&base_tsc, t1);
    atomic_store(&base_ns, mo1 + anchor_ns);
    atomic_store(&mult, m);
    pthread_atfork(clock_prepare_fork, clock_after_fork, clock_after_fork);
    use_tsc = 1;
    atomic_store(&sl_clk_tsc_ready, 1);
#endif
}

int sl_clock_uses_tsc(void)
{
    pthread_once(&clock_once, clock_init_once);
    return use_tsc;
}

static _Atomic int clock_ready;

uint64_t sl_clock_now(void)
{
    if (!atomic_load_explicit(&clock_ready, memory_order_acquire)) {
        pthread_once(&clock_once, clock_init_once);
        atomic_store_explicit(&clock_ready, 1, memory_order_release);
    }
#if SL_HAVE_TSC
    if (use_tsc) return sl_clock_tsc_to_ns(__rdtsc());
#endif
    return mono_ns() + anchor_ns;
}

void sl_clock_refine(void)
{
#if SL_HAVE_TSC
    if (!sl_clock_uses_tsc()) return;
    /* every drain calls this: one cheap clock read decides */
    if (mono_ns() - atomic_load_explicit(&last_refine_mono, memory_order_relaxed) < 500000000u) return;
    if (pthread_mutex_trylock(&refine_mu) != 0) return;
    uint64_t t, mo;
    paired_read(&t, &mo);
    if (mo - atomic_load_explicit(&last_refine_mono, memory_order_relaxed) < 500000000u || t <= cal_tsc0) {
        pthread_mutex_unlock(&refine_mu);
        return;
    }
    atomic_store_explicit(&last_refine_mono, mo, memory_order_relaxed);
    /* the rate measured over everything since the first calibration */
    double rate = (double)(mo - cal_mono0) / (double)(t - cal_tsc0);
    uint64_t now = sl_clock_tsc_to_ns(t);
    double err = (double)(int64_t)(now - (mo + anchor_ns));
    /* absorb the error over the next second, by at most 0.1 % */
    double corr = -err / 1e9;
    if (corr > 1e-3) corr = 1e-3;
    if (corr < -1e-3) corr = -1e-3;
    double mf = rate * (1.0 + corr) * (double)(1ull << SL_CLK_MULT_SHIFT);
    if (mf < 1.0) mf = 1.0;
    uint32_t s = atomic_load_explicit(&seq, memory_order_relaxed);
    atomic_store_explicit(&seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&base_tsc, t, memory_order_relaxed);
    atomic_store_explicit(&base_ns, now, memory_order_relaxed);
    atomic_store_explicit(&mult, (uint64_t)mf, memory_order_relaxed);
    atomic_store_explicit(&seq, s + 2, memory_order_release);
    pthread_mutex_unlock(&refine_mu);
#endif
}
