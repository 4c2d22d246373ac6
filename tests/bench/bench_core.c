/*
 * bench_core.c: what a span costs in the C core, on the calling thread and
 * in total with the writer thread, against a naive tracer (snprintf a JSON
 * line per record into a FILE*) in the same run. Prints `bench <name>
 * key=value ...` lines.
 *
 * Key idea: the calling-thread figure is measured in bursts that fit the
 * ring (the writer thread drains in the background, the burst is not
 * throttled by it); the sustained figure counts the whole process's CPU
 * (CLOCK_PROCESS_CPUTIME_ID: the writer thread's too) until sl_tracer_close
 * returns and every byte is in the file, and the calling thread's
 * (CLOCK_THREAD_CPUTIME_ID) apart; the difference is the writer. Each figure
 * is the median of ROUNDS interleaved rounds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
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

static double process_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A tracer writing a file at path. */
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
 * writer thread would do between the bursts of a real program. Fills f[0..3]
 * with the calling thread's CPU ns per span (mean over all bursts), the wall
 * mean, the median burst and the best burst (the figure least disturbed by
 * other processes on a shared machine). */
static void bench_calling(const char *path, sl_format fmt, int n, double f[4])
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
    qsort(each, (size_t)bursts, sizeof *each, cmp_double);
    double spans = (double)bursts * BURST;
    f[0] = cpu * 1e9 / spans;
    f[1] = total * 1e9 / spans;
    f[2] = each[bursts / 2] * 1e9 / BURST;
    f[3] = best * 1e9 / BURST;
    free(each);
}

/* sustained: default ring, the caller blocks when the writer falls behind.
 * Fills f[0..3] with process, calling-thread and wall ns per span and the
 * dropped count. */
static void bench_sustained(const char *path, sl_format fmt, int n, double f[4])
{
    sl_tracer *t = open_file(path, 0, fmt);
    double w0 = now_s(), p0 = process_s(), c0 = cpu_s();
    for (int i = 0; i < n; i++) one_span(t, i);
    sl_stats st;
    sl_tracer_stats(t, &st);
    sl_tracer_close(t);
    double c1 = cpu_s(), p1 = process_s(), w1 = now_s();
    f[0] = (p1 - p0) * 1e9 / n;
    f[1] = (c1 - c0) * 1e9 / n;
    f[2] = (w1 - w0) * 1e9 / n;
    f[3] = (double)st.dropped;
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

/* the naive tracer: a random id, a clock read and an fprintf per record;
 * process CPU ns per span */
static double bench_baseline(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    unsigned char id[16];
    uint64_t x = 88172645463325252ull;
    double t0 = process_s();
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
    return (process_s() - t0) * 1e9 / n;
}

/* What the kernel alone charges the process per byte written to a file in
 * the writer's batch size (256 KiB writes, the page cache's work): the part
 * of the sustained figures no encoder can save, only fewer bytes. */
static double bench_kernel_write(const char *path, size_t bytes)
{
    enum { BATCH = 256 * 1024 };
    static char buf[BATCH];
    memset(buf, 'x', sizeof buf);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    double p0 = process_s();
    for (size_t done = 0; done < bytes; done += BATCH)
        if (write(fd, buf, BATCH) != BATCH) break;
    close(fd);
    double ns = (process_s() - p0) * 1e9 / (double)bytes;
    unlink(path);
    return ns;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { MAX_ROUNDS = 15 };

/* figures[kind][field][round] -> the median of each field */
static void medians(double v[][MAX_ROUNDS], int fields, int rounds, double out[])
{
    for (int k = 0; k < fields; k++) out[k] = median(v[k], rounds);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    /* argv[3]: run one kind only (for perf and callgrind): calling_jsonl,
     * calling_msgpack, sustained_jsonl, sustained_msgpack */
    const char *only = argc > 3 ? argv[3] : NULL;
    if (n < 2000) n = 2000;
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    char path[256];
    snprintf(path, sizeof path, "/tmp/spanline-bench-%d.jsonl", (int)getpid());


    /* warm up the clock calibration and the page cache */
    double warm[4];
    bench_calling(path, SL_JSONL, 10000, warm);

    enum { CALL_J, CALL_M, SUS_J, SUS_M, BASE, KERNEL, KINDS };
    static double v[KINDS][4][MAX_ROUNDS];
    if (only) {
        double f[4];
        int sustained = strncmp(only, "sustained", 9) == 0;
        sl_format fmt = strstr(only, "msgpack") ? SL_MSGPACK : SL_JSONL;
        for (int r = 0; r < rounds; r++) {
            if (sustained) bench_sustained(path, fmt, n, f);
            else bench_calling(path, fmt, n, f);
            printf("bench c.%s ns=%.1f %.1f %.1f %.1f\n", only, f[0], f[1], f[2], f[3]);
        }
        unlink(path);
        return 0;
    }
    for (int r = 0; r < rounds; r++) {
        double f[4];
        bench_calling(path, SL_JSONL, n, f);
        for (int k = 0; k < 4; k++) v[CALL_J][k][r] = f[k];
        bench_calling(path, SL_MSGPACK, n, f);
        for (int k = 0; k < 4; k++) v[CALL_M][k][r] = f[k];
        bench_sustained(path, SL_JSONL, n, f);
        for (int k = 0; k < 4; k++) v[SUS_J][k][r] = f[k];
        bench_sustained(path, SL_MSGPACK, n, f);
        for (int k = 0; k < 4; k++) v[SUS_M][k][r] = f[k];
        v[BASE][0][r] = bench_baseline(path, n / 4);
        v[KERNEL][0][r] = bench_kernel_write(path, (size_t)n * 256);
    }
    double m[4];
    static const char *const call_names[] = {"c.span_start_end_attr", "c.span_start_end_attr_msgpack"};
    for (int kind = CALL_J; kind <= CALL_M; kind++) {
        medians(v[kind], 4, rounds, m);
        printf("bench %s calling_ns=%.1f wall_mean_ns=%.1f median_burst_ns=%.1f best_burst_ns=%.1f"
               " spans=%d rounds=%d\n", call_names[kind], m[0], m[1], m[2], m[3], n, rounds);
    }
    static const char *const sus_names[] = {"c.sustained_jsonl", "c.sustained_msgpack"};
    for (int kind = SUS_J; kind <= SUS_M; kind++) {
        medians(v[kind], 4, rounds, m);
        printf("bench %s process_ns=%.1f calling_ns=%.1f writer_ns=%.1f wall_ns=%.1f dropped=%.0f"
               " spans=%d rounds=%d\n", sus_names[kind - SUS_J], m[0], m[1], m[0] - m[1], m[2], m[3],
               n, rounds);
    }
    medians(v[BASE], 1, rounds, m);
    printf("bench c.baseline_fprintf_json process_ns=%.1f spans=%d rounds=%d\n", m[0], n / 4, rounds);
    medians(v[KERNEL], 1, rounds, m);
    printf("bench c.kernel_write_file process_ns_per_byte=%.3f process_ns_per_265_bytes=%.1f"
           " rounds=%d\n", m[0], m[0] * 265, rounds);
    unlink(path);
    return 0;
}
