/*
 * assemble_store.c: the assembler's storage pieces (see assemble_internal.h):
 * per-span blobs, hash tables of 32-bit refs, interned strings.
 *
 * Key idea: a table holds only refs; the key is read from the slot (or
 * trace) the ref names, so an entry costs 4 bytes and the tables never
 * copy ids. Open addressing, linear probing, at most half full, deletion
 * by backward shift (no tombstones).
 */
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

/* ===== BLOBS ===== */

#define ENTRY_HEAD 5

char *sl_blob_entry(blob **bp, int kind, size_t len)
{
    blob *b = *bp;
    size_t used = b ? b->len : 0, cap = b ? b->cap : 0;
    size_t need = used + ENTRY_HEAD + len;
    if (len > UINT32_MAX - ENTRY_HEAD || need > UINT32_MAX) return NULL;
    if (need > cap) {
        size_t ncap = cap ? cap * 2 : 32;
        while (ncap < need) ncap *= 2;
        if (ncap > UINT32_MAX) ncap = need;
        blob *nb = realloc(b, sizeof *nb + ncap);
        if (!nb) return NULL;
        if (!b) nb->len = 0;
        nb->cap = (uint32_t)ncap;
        *bp = b = nb;
    }
    char *p = b->data + b->len;
    uint32_t l32 = (uint32_t)len;
    p[0] = (char)kind;
    memcpy(p + 1, &l32, 4);
    b->len += (uint32_t)(ENTRY_HEAD + len);
    return p + ENTRY_HEAD;
}

size_t sl_blob_offset(const blob *b)
{
    return b ? b->len : 0;
}

const char *sl_blob_at(const blob *b, size_t off, size_t *len)
{
    uint32_t l32;
    memcpy(&l32, b->data + off + 1, 4);
    *len = l32;
    return b->data + off + ENTRY_HEAD;
}

int sl_blob_next(const blob *b, size_t *pos, int kind, const char **p, size_t *len)
{
    if (!b) return 0;
    size_t i = *pos;
    while (i + ENTRY_HEAD <= b->len) {
        uint32_t l32;
        memcpy(&l32, b->data + i + 1, 4);
        size_t here = i;
        i += ENTRY_HEAD + l32;
        if (b->data[here] == kind) {
            *p = b->data + here + ENTRY_HEAD;
            *len = l32;
            *pos = i;
            return 1;
        }
    }
    *pos = i;
    return 0;
}

/* ===== HASH TABLES OF REFS ===== */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
}

static uint64_t hash_key(enum key_kind kind, const sl_id *k)
{
    uint64_t a, b;
    memcpy(&a, k->bytes, 8);
    memcpy(&b, k->bytes + 8, 8);
    if (kind == KEY_TAIL) return mix(b * 0x9E3779B97F4A7C15ull);
    return mix(a ^ (b * 0x9E3779B97F4A7C15ull));
}

static const sl_id *key_of(const reftab *t, const keysrc *src, uint32_t ref)
{
    switch (t->kind) {
    case KEY_PARENT: return &src->slots[ref].parent_id;
    case KEY_TRACE: return &src->traces[ref].id;
    default: return &src->slots[ref].id;
    }
}

static int key_eq(enum key_kind kind, const sl_id *a, const sl_id *b)
{
    if (kind == KEY_TAIL) return memcmp(a->bytes + 8, b->bytes + 8, 8) == 0;
    return memcmp(a->bytes, b->bytes, 16) == 0;
}

static uint32_t find_cell(const reftab *t, const keysrc *src, const sl_id *key)
{
    uint32_t i = (uint32_t)hash_key(t->kind, key) & t->mask;
    while (t->cells[i] != NONE && !key_eq(t->kind, key_of(t, src, t->cells[i]), key))
        i = (i + 1) & t->mask;
    return i;
}

static int alloc_cells(reftab *t, uint32_t n)
{
    t->cells = malloc((size_t)n * sizeof *t->cells);
    if (!t->cells) return SL_ENOMEM;
    memset(t->cells, 0xff, (size_t)n * sizeof *t->cells);
    t->mask = n - 1;
    return SL_OK;
}

int sl_reftab_init(reftab *t, enum key_kind kind)
{
    t->kind = kind;
    t->count = 0;
    return alloc_cells(t, 256);
}

void sl_reftab_free(reftab *t)
{
    free(t->cells);
    t->cells = NULL;
}

uint32_t sl_reftab_find(const reftab *t, const keysrc *src, const sl_id *key)
{
    return t->cells[find_cell(t, src, key)];
}

static int grow(reftab *t, const keysrc *src)
{
    uint32_t *old = t->cells, oldn = t->mask + 1;
    if (oldn > (UINT32_MAX >> 1)) return SL_ENOMEM;
    if (alloc_cells(t, oldn * 2) != SL_OK) {
        t->cells = old;
        t->mask = oldn - 1;
        return SL_ENOMEM;
    }
    for (uint32_t i = 0; i < oldn; i++)
        if (old[i] != NONE) t->cells[find_cell(t, src, key_of(t, src, old[i]))] = old[i];
    free(old);
    return SL_OK;
}

int sl_reftab_reserve(reftab *t, const keysrc *src)
{
    if ((t->count + 1) * 2 > t->mask + 1 && grow(t, src) != SL_OK) return SL_ENOMEM;
    return SL_OK;
}

uint32_t *sl_reftab_cell(reftab *t, const keysrc *src, const sl_id *key)
{
    return &t->cells[find_cell(t, src, key)];
}

void sl_reftab_fill(reftab *t, uint32_t *cell, uint32_t ref)
{
    if (*cell == NONE) t->count++;
    *cell = ref;
}

int sl_reftab_put(reftab *t, const keysrc *src, uint32_t ref)
{
    if (sl_reftab_reserve(t, src) != SL_OK) return SL_ENOMEM;
    uint32_t i = find_cell(t, src, key_of(t, src, ref));
    if (t->cells[i] == NONE) t->count++;
    t->cells[i] = ref;
    return SL_OK;
}

void sl_reftab_replace(reftab *t, const keysrc *src, uint32_t old_ref, uint32_t ref)
{
    uint32_t i = find_cell(t, src, key_of(t, src, ref));
    if (t->cells[i] == old_ref) t->cells[i] = ref;
}

void sl_reftab_remove(reftab *t, const keysrc *src, uint32_t ref)
{
    uint32_t i = find_cell(t, src, key_of(t, src, ref));
    if (t->cells[i] != ref) return;
    t->cells[i] = NONE;
    t->count--;
    /* Backward-shift deletion keeps probe chains intact. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        uint32_t e = t->cells[j];
        if (e == NONE) break;
        uint32_t home = (uint32_t)hash_key(t->kind, key_of(t, src, e)) & t->mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->cells[i] = e;
            t->cells[j] = NONE;
            i = j;
        }
    }
}

/* ===== INTERNED STRINGS ===== */

static uint64_t str_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static uint32_t str_cell(const strtab *t, const char *s, size_t len)
{
    uint32_t i = (uint32_t)str_hash(s, len) & t->mask;
    for (;;) {
        uint32_t e = t->cells[i];
        if (e == NONE) return i;
        if (t->ents[e].len == len && memcmp(t->arena + t->ents[e].off, s, len) == 0) return i;
        i = (i + 1) & t->mask;
    }
}

static int str_grow(strtab *t)
{
    uint32_t n = t->cells ? (t->mask + 1) * 2 : 64;
    uint32_t *cells = malloc((size_t)n * sizeof *cells);
    if (!cells) return SL_ENOMEM;
    memset(cells, 0xff, (size_t)n * sizeof *cells);
    free(t->cells);
    t->cells = cells;
    t->mask = n - 1;
    for (uint32_t e = 0; e < t->n; e++)
        t->cells[str_cell(t, t->arena + t->ents[e].off, t->ents[e].len)] = e;
    return SL_OK;
}

uint32_t sl_strtab_intern(strtab *t, const char *s, size_t len)
{
    if (!t->cells || (t->n + 1) * 2 > t->mask + 1) {
        if (str_grow(t) != SL_OK) return NONE;
    }
    uint32_t i = str_cell(t, s, len);
    if (t->cells[i] != NONE) return t->cells[i];
    if (len > UINT32_MAX || t->len + len > UINT32_MAX) return NONE;
    if (t->len + len > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + len) cap *= 2;
        char *na = realloc(t->arena, cap);
        if (!na) return NONE;
        t->arena = na;
        t->cap = cap;
    }
    if (t->n == t->ecap) {
        uint32_t ecap = t->ecap ? t->ecap * 2 : 64;
        void *ne = realloc(t->ents, (size_t)ecap * sizeof *t->ents);
        if (!ne) return NONE;
        t->ents = ne;
        t->ecap = ecap;
    }
    if (len) memcpy(t->arena + t->len, s, len);
    t->ents[t->n].off = (uint32_t)t->len;
    t->ents[t->n].len = (uint32_t)len;
    t->len += len;
    t->cells[i] = t->n;
    return t->n++;
}

const char *sl_strtab_get(const strtab *t, uint32_t id, size_t *len)
{
    *len = t->ents[id].len;
    return t->arena ? t->arena + t->ents[id].off : "";
}

void sl_strtab_free(strtab *t)
{
    free(t->arena);
    free(t->ents);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
