/*
 * recorder.c: the flight recorder: the most recent encoded records, kept in
 * a fixed amount of memory until something asks for them (a dump, SIGUSR1,
 * a crash).
 *
 * Key idea: one byte ring of [u32 length][record bytes] entries. Positions
 * are 64-bit counters that never wrap (the offset is position % size), an
 * entry may wrap around the end, and making room always drops whole entries
 * from the oldest end, so what a dump writes is a run of whole records: the
 * newest ones. Taking entries needs no allocation (the crash handler does).
 */
#include <stdlib.h>

#include "tracer_impl.h"

struct sl_recorder {
    char *mem;
    uint64_t size;
    uint64_t head, tail;   /* bytes in use: [tail, head) */
};

sl_recorder *sl_recorder_new(size_t bytes)
{
    if (bytes < 64) bytes = 64;
    sl_recorder *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->mem = malloc(bytes);   /* not touched: pages cost memory once records fill them */
    if (!r->mem) {
        free(r);
        return NULL;
    }
    r->size = bytes;
    return r;
}

void sl_recorder_free(sl_recorder *r)
{
    if (!r) return;
    free(r->mem);
    free(r);
}

static void copy_in(sl_recorder *r, uint64_t pos, const void *src, size_t n)
{
    uint64_t off = pos % r->size;
    size_t first = n < r->size - off ? n : (size_t)(r->size - off);
    memcpy(r->mem + off, src, first);
    memcpy(r->mem, (const char *)src + first, n - first);
}

static uint32_t length_at(const sl_recorder *r, uint64_t pos)
{
    uint32_t len;
    char tmp[4];
    for (int i = 0; i < 4; i++) tmp[i] = r->mem[(pos + (uint64_t)i) % r->size];
    memcpy(&len, tmp, 4);
    return len;
}

long sl_recorder_put(sl_recorder *r, const char *data, size_t len)
{
    uint64_t need = 4 + (uint64_t)len;
    if (need > r->size || len > UINT32_MAX) return -1;
    long dropped = 0;
    while (r->head - r->tail + need > r->size) {
        r->tail += 4 + (uint64_t)length_at(r, r->tail);
        dropped++;
    }
    uint32_t n = (uint32_t)len;
    copy_in(r, r->head, &n, 4);
    copy_in(r, r->head + 4, data, len);
    r->head += need;
    return dropped;
}

int sl_recorder_take(sl_recorder *r, const char **a, size_t *alen, const char **b, size_t *blen)
{
    if (r->tail == r->head) return 0;
    uint32_t len = length_at(r, r->tail);
    uint64_t off = (r->tail + 4) % r->size;
    size_t first = len < r->size - off ? len : (size_t)(r->size - off);
    *a = r->mem + off;
    *alen = first;
    *b = r->mem;
    *blen = len - first;
    r->tail += 4 + (uint64_t)len;
    return 1;
}

void sl_recorder_clear(sl_recorder *r)
{
    r->tail = r->head;
}
