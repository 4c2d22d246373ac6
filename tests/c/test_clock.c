/*
 * test_clock.c: sl_clock_now is monotonic, close to CLOCK_REALTIME, and its
 * drift against CLOCK_MONOTONIC over a few seconds is printed (a figure,
 * not an assertion: the TSC mapping is refined from flush paths).
 */
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "internal.h"

static uint64_t ns_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void)
{
    uint64_t first = sl_clock_now();
    int64_t diff = (int64_t)(first - ns_of(CLOCK_REALTIME));
    fprintf(stderr, "clock: source=%s offset_vs_realtime_ns=%lld\n",
            sl_clock_uses_tsc() ? "tsc" : "clock_gettime", (long long)diff);
    CHECK(diff > -50000000 && diff < 50000000);

    uint64_t prev = sl_clock_now();
    int monotonic = 1;
    for (int i = 0; i < 2000000; i++) {
        uint64_t t = sl_clock_now();
        if (t < prev) monotonic = 0;
        prev = t;
    }
    CHECK(monotonic);

    /* drift: the clock vs CLOCK_MONOTONIC + the same anchor, over ~3 s */
    uint64_t m0 = ns_of(CLOCK_MONOTONIC), c0 = sl_clock_now();
    for (int i = 1; i <= 6; i++) {
        struct timespec half = {0, 500000000};
        nanosleep(&half, NULL);
        sl_clock_refine();
        uint64_t m = ns_of(CLOCK_MONOTONIC), c = sl_clock_now();
        long long drift = (long long)((int64_t)(c - c0) - (int64_t)(m - m0));
        fprintf(stderr, "clock: after %.1f s drift_vs_monotonic_ns=%lld\n", (double)(m - m0) / 1e9, drift);
        CHECK(c > prev);
        prev = c;
    }
    diff = (int64_t)(sl_clock_now() - ns_of(CLOCK_REALTIME));
    fprintf(stderr, "clock: final offset_vs_realtime_ns=%lld\n", (long long)diff);
    CHECK(diff > -50000000 && diff < 50000000);
    return CHECK_DONE();
}
