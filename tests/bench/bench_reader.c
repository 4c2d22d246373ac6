/*
 * bench_reader.c: the C reader alone, on a file loaded into memory: JSONL
 * (or msgpack) -> sl_record, best CPU time of 7 runs, so the figure does not
 * depend on the disk or on other processes. Reads at most the first 256 MB
 * (cut at a line end). Part of tests/bench/bench_read.sh.
 * usage: bench_reader FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spanline.h"

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_reader FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    if (n > (256L << 20)) n = 256L << 20;
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    while (n > 0 && data[n - 1] != '\n') n--;  /* whole lines only */
    double best = 1e30;
    unsigned long long records = 0;
    for (int k = 0; k < 7; k++) {
        double t0 = cpu_seconds();
        sl_reader *r = sl_reader_open_mem(data, (size_t)n, NULL, NULL);
        sl_record rec;
        records = 0;
        while (sl_reader_next(r, &rec) == SL_OK) records++;
        sl_reader_close(r);
        double t = cpu_seconds() - t0;
        if (t < best) best = t;
    }
    printf("bench read.c_reader mb_per_s=%.0f records_per_s=%.0f records=%llu\n",
           (double)n / 1048576.0 / best, (double)records / best, records);
    free(data);
    return 0;
}
