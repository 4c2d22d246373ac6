/*
 * lsamples.c: core.samples(): durations kept as packed int64 for exact
 * nearest-rank percentiles in spanline.query's stats.
 *
 * Key idea: 8 bytes per value (not 16 per Lua slot) in one C array, sorted
 * once on demand, so a report over millions of spans stays small. The sort
 * is a radix sort by bytes that skips the bytes every value shares
 * (durations leave the top ones zero): a few linear passes instead of
 * qsort's n log n calls of a comparison function. The methods check their
 * self by the metatable upvalue lsl_new_class gives them (add runs once per
 * span).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbinding.h"

/* Durations kept as packed int64 (8 bytes each, not 16 per Lua slot) so a
 * report over millions of spans stays small; sorted once on demand. */
#define SAMPLES_MT "spanline.samples"

typedef struct lsamples {
    int64_t *v;
    size_t n, cap;
    int sorted;
} lsamples;

static int l_samples(lua_State *L)
{
    lsamples *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, SAMPLES_MT);
    return 1;
}

static lsamples *check(lua_State *L, int idx)
{
    return lsl_check_self(L, idx, SAMPLES_MT);
}

static int l_samples_add(lua_State *L)
{
    lsamples *s = check(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        int64_t *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return luaL_error(L, "out of memory");
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    s->sorted = 0;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void insertion_sort(int64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int64_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
}

/* LSD radix sort of the values as unsigned keys (sign bit flipped), one
 * pass per byte in which the values differ; 0, or -1 when out of memory. */
static int radix_sort(int64_t *v, size_t n)
{
    static const uint64_t FLIP = 1ull << 63;
    size_t (*count)[256] = calloc(8, sizeof *count);
    uint64_t *tmp = malloc(n * sizeof *tmp);
    if (!count || !tmp) {
        free(count);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = (uint64_t)v[i] ^ FLIP;
        for (int b = 0; b < 8; b++) count[b][(k >> (8 * b)) & 0xff]++;
    }
    uint64_t *src = (uint64_t *)v, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        size_t *c = count[b];
        if (c[((uint64_t)v[0] ^ FLIP) >> (8 * b) & 0xff] == n) continue;   /* all share this byte */
        size_t sum = 0;
        for (int d = 0; d < 256; d++) {
            size_t here = c[d];
            c[d] = sum;
            sum += here;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = src[i] ^ FLIP;
            dst[c[(k >> (8 * b)) & 0xff]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != (uint64_t *)v) memcpy(v, src, n * sizeof *v);
    free(count);
    free(tmp);
    return 0;
}

static void samples_sort(lsamples *s)
{
    if (s->sorted || s->n < 2) {
        s->sorted = 1;
        return;
    }
    if (s->n <= 64) insertion_sort(s->v, s->n);
    else if (radix_sort(s->v, s->n) != 0) qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    s->sorted = 1;
}

/* Nearest rank: the smallest value with at least p% of the values <= it,
 * i.e. sorted[ceil(p/100 * n)] (1-based). */
static int64_t nearest_rank(const lsamples *s, double p)
{
    if (p <= 0) return s->v[0];
    double r = p / 100.0 * (double)s->n;
    size_t k = (size_t)r;
    if ((double)k < r) k++;
    if (k < 1) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1];
}

static int l_samples_quantile(lua_State *L)
{
    lsamples *s = check(L, 1);
    double p = luaL_checknumber(L, 2);
    luaL_argcheck(L, p >= 0 && p <= 100, 2, "percentile must be in 0..100");
    if (s->n == 0) return 0;
    samples_sort(s);
    lua_pushinteger(L, nearest_rank(s, p));
    return 1;
}

static int l_samples_count(lua_State *L)
{
    lsamples *s = check(L, 1);
    lua_pushinteger(L, (lua_Integer)s->n);
    return 1;
}

/* s:summary() -> {count, total, min, max, mean, stdev (population), p50, p90, p95, p99} */
static int l_samples_summary(lua_State *L)
{
    lsamples *s = check(L, 1);
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, (lua_Integer)s->n);
    lua_setfield(L, -2, "count");
    if (s->n == 0) return 1;
    samples_sort(s);
    /* summed as Lua sums integers: wrapping around, not undefined */
    uint64_t sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += (uint64_t)s->v[i];
    int64_t total = (int64_t)sum;
    double mean = (double)total / (double)s->n, m2 = 0;
    for (size_t i = 0; i < s->n; i++) {
        double d = (double)s->v[i] - mean;
        m2 += d * d;
    }
    lua_pushinteger(L, total);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, s->v[0]);
    lua_setfield(L, -2, "min");
    lua_pushinteger(L, s->v[s->n - 1]);
    lua_setfield(L, -2, "max");
    lua_pushnumber(L, mean);
    lua_setfield(L, -2, "mean");
    lua_pushnumber(L, sqrt(m2 / (double)s->n));
    lua_setfield(L, -2, "stdev");
    static const struct { const char *k; double p; } ps[] = {
        { "p50", 50 }, { "p90", 90 }, { "p95", 95 }, { "p99", 99 } };
    for (size_t i = 0; i < 4; i++) {
        lua_pushinteger(L, nearest_rank(s, ps[i].p));
        lua_setfield(L, -2, ps[i].k);
    }
    return 1;
}

static int l_samples_gc(lua_State *L)
{
    lsamples *s = luaL_checkudata(L, 1, SAMPLES_MT);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    return 0;
}

static const luaL_Reg samples_methods[] = {
    { "add", l_samples_add },
    { "quantile", l_samples_quantile },
    { "count", l_samples_count },
    { "summary", l_samples_summary },
    { NULL, NULL }
};


static const luaL_Reg samples_funcs[] = {
    { "samples", l_samples },
    { NULL, NULL }
};

void lsl_open_samples(lua_State *L)
{
    lsl_new_class(L, SAMPLES_MT, samples_methods, l_samples_gc);
    luaL_setfuncs(L, samples_funcs, 0);
}
