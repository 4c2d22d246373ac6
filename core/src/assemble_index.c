/*
 * assemble_index.c: what a live view reads from a KEEP store besides single
 * spans: the spans each add touched (change list), every started span by
 * start time, and name search in tree or list order.
 *
 * Key idea: all three are kept or computed in C over refs, so a viewer of
 * 10^6 spans holds no Lua value per span: the by-start index grows by
 * appending (records mostly come in time order) and is sorted again only
 * when a span starts before the last one; a search decides each distinct
 * (interned) name once.
 */
#include <stdlib.h>
#include <string.h>

#include "assemble_internal.h"

/* ===== CHANGES ===== */

void sl_assembler_track(sl_assembler *a, int on)
{
    if (a) a->track = on;
}

size_t sl_assembler_changes(sl_assembler *a, const uint32_t **refs)
{
    size_t n = a->nchanges;
    for (size_t i = 0; i < n; i++) a->slots[a->changes[i]].flags &= (uint16_t)~F_CHANGED;
    a->nchanges = 0;
    /* The refs stay readable until the next add (which may overwrite them). */
    *refs = a->changes;
    return n;
}

/* ===== BY START ===== */

static const slot *cmp_slots;

static int by_start_cmp(const void *x, const void *y)
{
    const slot *a = &cmp_slots[*(const uint32_t *)x], *b = &cmp_slots[*(const uint32_t *)y];
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return memcmp(a->id.bytes, b->id.bytes, 16);
}

static int before(const sl_assembler *a, uint32_t x, uint32_t y)
{
    const slot *s = &a->slots[x], *t = &a->slots[y];
    if (s->start != t->start) return s->start < t->start;
    return memcmp(s->id.bytes, t->id.bytes, 16) < 0;
}

/* Appends r; clears *sorted when it goes before the last one. */
static int list_started(sl_assembler *a, uint32_t r, int *sorted)
{
    if (sl_asm_grow((void **)&a->by_start, &a->by_start_cap, a->nby_start + 1, sizeof *a->by_start) != SL_OK)
        return SL_ENOMEM;
    if (a->nby_start > 0 && before(a, r, a->by_start[a->nby_start - 1])) *sorted = 0;
    a->by_start[a->nby_start++] = r;
    return SL_OK;
}

size_t sl_assembler_by_start(sl_assembler *a, const uint32_t **refs, int *resorted)
{
    int sorted = 1;
    /* Spans start once: a started span is listed for good. Spans seen
     * before their start (rare: records come in order) wait in a list. */
    size_t keep = 0;
    for (size_t i = 0; i < a->nunstarted; i++) {
        uint32_t r = a->unstarted[i];
        if (a->slots[r].flags & SL_ASPAN_STARTED) list_started(a, r, &sorted);
        else a->unstarted[keep++] = r;
    }
    a->nunstarted = keep;
    for (uint32_t r = a->by_start_seen; r < a->nslots; r++) {
        const slot *s = &a->slots[r];
        if (s->flags & F_FREE) continue;
        int rc = (s->flags & SL_ASPAN_STARTED)
            ? list_started(a, r, &sorted)
            : sl_asm_grow((void **)&a->unstarted, &a->unstarted_cap, a->nunstarted + 1, sizeof *a->unstarted);
        if (rc != SL_OK) break;
        if (!(s->flags & SL_ASPAN_STARTED)) a->unstarted[a->nunstarted++] = r;
        a->by_start_seen = r + 1;
    }
    if (!sorted) {
        cmp_slots = a->slots;
        qsort(a->by_start, a->nby_start, sizeof *a->by_start, by_start_cmp);
    }
    if (resorted) *resorted = !sorted;
    *refs = a->by_start;
    return a->nby_start;
}

/* ===== SEARCH ===== */

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int contains(const char *s, size_t n, const char *term, size_t len)
{
    if (len == 0) return 1;
    for (size_t i = 0; i + len <= n; i++) {
        size_t j = 0;
        while (j < len && lower((unsigned char)s[i + j]) == lower((unsigned char)term[j])) j++;
        if (j == len) return 1;
    }
    return 0;
}

static int name_matches(sl_assembler *a, uint32_t r, const char *term, size_t len)
{
    const slot *s = &a->slots[r];
    if (!(s->flags & SL_ASPAN_STARTED)) return 0;
    size_t n;
    const char *name;
    if (a->opts.mode == SL_ASM_KEEP) {
        uint32_t id = s->name;
        if (id < a->name_match_cap && a->name_match[id]) return a->name_match[id] == 2;
        name = sl_strtab_get(&a->names, id, &n);
        int yes = contains(name, n, term, len);
        if (id < a->name_match_cap) a->name_match[id] = (uint8_t)(yes ? 2 : 1);
        return yes;
    }
    name = sl_blob_at(s->blob, s->name, &n);
    return contains(name, n, term, len);
}

static int visit(sl_assembler *a, uint32_t r, const char *term, size_t len, uint32_t cur, size_t *n,
                 size_t *before)
{
    if (r == cur) *before = *n;
    if (!name_matches(a, r, term, len)) return SL_OK;
    if (sl_asm_grow((void **)&a->found, &a->found_cap, *n + 1, sizeof *a->found) != SL_OK) return SL_ENOMEM;
    a->found[(*n)++] = r;
    return SL_OK;
}

size_t sl_assembler_search(sl_assembler *a, const uint32_t *refs, size_t n, int tree, const char *term,
                           size_t len, uint32_t cur, const uint32_t **out, size_t *before)
{
    size_t found = 0;
    *before = SIZE_MAX;
    *out = NULL;
    /* one decision per interned name for this search */
    if (a->opts.mode == SL_ASM_KEEP) {
        size_t need = a->names.n;
        if (need > a->name_match_cap) {
            uint8_t *m = realloc(a->name_match, need);
            if (m) {
                a->name_match = m;
                a->name_match_cap = need;
            }
        }
        if (a->name_match) memset(a->name_match, 0, a->name_match_cap);
    }
    if (!tree) {
        for (size_t i = 0; i < n; i++)
            if (visit(a, refs[i], term, len, cur, &found, before) != SL_OK) break;
        *out = a->found;
        return found;
    }
    /* Depth first, children by start: roots pushed in reverse, then each
     * node's sorted children in reverse. The stack holds refs. */
    uint32_t *stack = NULL, *kids = NULL;
    size_t top = 0, cap = 0, kcap = 0;
    for (size_t i = n; i-- > 0;) {
        if (sl_asm_grow((void **)&stack, &cap, top + 1, sizeof *stack) != SL_OK) goto done;
        stack[top++] = refs[i];
    }
    while (top > 0) {
        uint32_t r = stack[--top];
        if (visit(a, r, term, len, cur, &found, before) != SL_OK) break;
        size_t m = sl_assembler_children(a, r, NULL, 0);
        if (m == 0) continue;
        if (sl_asm_grow((void **)&kids, &kcap, m, sizeof *kids) != SL_OK ||
            sl_asm_grow((void **)&stack, &cap, top + m, sizeof *stack) != SL_OK)
            break;
        sl_assembler_children(a, r, kids, m);
        for (size_t j = m; j-- > 0;) stack[top++] = kids[j];
    }
done:
    free(stack);
    free(kids);
    *out = a->found;
    return found;
}
