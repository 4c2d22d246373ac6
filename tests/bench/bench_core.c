/*
 * bench_core.c: what a span costs the calling thread in the C core, against
 * a naive tracer (snprintf a JSON line per record into a FILE*) in the same
 * run. Prints `bench <name> key=value ...` lines.
 *
 * Key idea: the calling-thread figure is measured with a ring large enough
 * for each burst (the writer thread drains in the background, the burst is
 * not throttled by it); the sustained figure includes the writer: the clock
 * stops when sl_tracer_close returns and every byte is in the file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spanline.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sl_tracer *open_file(const char *path, size_t ring, sl_format fmt)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    c.buffer_size = ring;
    c.format = fmt;
    c.service = "bench";
    sl_error e;
    unlink(path);
    sl_tracer *t = sl_tracer_open(&c, &e);
    if (!t) {
        fprintf(stderr, "bench_core: %s\n", e.message);
        exit(1);
    }
    return t;
}

static inline void one_span(sl_tracer *t, int64_t i)
{
    sl_span s;
    sl_attr a;
    a.key = "i";
    a.key_len = 1;
    a.type = SL_ATTR_INT;
    a.v.i = i;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = &a;
    o.nattrs = 1;
    sl_span_begin(t, &s, "work", 4, &o);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
}

/* calling-thread cost: bursts of 2000 spans fit the default ring (no
 * drain inside a burst); the ring is flushed between bursts, untimed, as the
 * writer thread would do between the bursts of a real program. Reports the
 * mean, the median and the best burst (the machine is shared: the best burst
 * is the figure least disturbed by other processes). */
static double bench_calling(const char *path, sl_format fmt, const char *name, int n)
{
    enum { BURST = 2000 };
    sl_tracer *t = open_file(path, 0, fmt);
    double total = 0, cpu = 0, best = 1e9;
    int bursts = n / BURST;
    double *each = malloc(sizeof *each * (size_t)bursts);
    if (!each) exit(1);
    for (int b = 0; b < bursts; b++) {
        double t0 = now_s(), c0 = cpu_s();
        for (int i = 0; i < BURST; i++) one_span(t, i);
        double d = now_s() - t0;
        cpu += cpu_s() - c0;
        total += d;
        each[b] = d;
        if (d < best) best = d;
        sl_tracer_flush(t);
    }
    sl_tracer_close(t);
    /* the median burst: robust against the other processes of a shared
     * machine without being the luckiest burst */
    qsort(each, (size_t)bursts, sizeof *each, cmp_double);
    double median = each[bursts / 2];
    free(each);
    double spans = (double)bursts * BURST;
    printf("bench %s ns_per_span=%.1f median_burst_ns_per_span=%.1f best_burst_ns_per_span=%.1f"
           " cpu_ns_per_span=%.1f spans=%.0f sink=file format=%s\n",
           name, total * 1e9 / spans, median * 1e9 / BURST, best * 1e9 / BURST, cpu * 1e9 / spans,
           spans, fmt == SL_MSGPACK ? "msgpack" : "jsonl");
    return total * 1e9 / spans;
}

/* sustained: default ring, the caller blocks when the writer falls behind */
static void bench_sustained(const char *path, sl_format fmt, const char *name, int n)
{
    sl_tracer *t = open_file(path, 0, fmt);
    double t0 = now_s();
    for (int i = 0; i < n; i++) one_span(t, i);
    double t1 = now_s();
    sl_stats st;
    sl_tracer_stats(t, &st);
    sl_tracer_close(t);
    double t2 = now_s();
    printf("bench %s ns_per_span=%.1f calling_ns_per_span=%.1f spans=%d dropped=%" PRIu64
           " spans_per_s=%.0f\n",
           name, (t2 - t0) * 1e9 / n, (t1 - t0) * 1e9 / n, n, st.dropped, n / (t2 - t0));
}

static void hex16(const unsigned char *b, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[32] = 0;
}

/* the naive tracer: a random id, a clock read and an fprintf per record */
static double bench_baseline(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    unsigned char id[16];
    uint64_t x = 88172645463325252ull;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 16; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            id[k] = (unsigned char)x;
        }
        char hex[33];
        hex16(id, hex);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        fprintf(f, "{\"type\":\"start\",\"id\":\"%s\",\"trace\":\"%s\",\"name\":\"%s\",\"ts\":%" PRIu64
                   ",\"lane\":1,\"attrs\":{\"i\":%d}}\n", hex, hex, "work", t, i);
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        fprintf(f, "{\"type\":\"end\",\"id\":\"%s\",\"ts\":%" PRIu64 ",\"status\":\"ok\"}\n", hex, t);
    }
    fclose(f);
    return (now_s() - t0) * 1e9 / n;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000000;
    if (n < 1000) n = 1000;
    char path[256];
    snprintf(path, sizeof path, "/tmp/spanline-bench-%d.jsonl", (int)getpid());

    /* warm up the clock calibration and the page cache */
    bench_calling(path, SL_JSONL, "c.warmup", 10000);

    double c = bench_calling(path, SL_JSONL, "c.span_start_end_attr", n);
    bench_calling(path, SL_MSGPACK, "c.span_start_end_attr_msgpack", n);
    bench_sustained(path, SL_JSONL, "c.sustained_jsonl", n);
    bench_sustained(path, SL_MSGPACK, "c.sustained_msgpack", n);
    double b = bench_baseline(path, n);
    printf("bench c.baseline_fprintf_json ns_per_span=%.1f spans=%d\n", b, n);
    printf("bench c.ratio baseline_over_calling=%.1f\n", c > 0 ? b / c : 0);
    unlink(path);
    return 0;
}
