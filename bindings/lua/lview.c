/*
 * lview.c: what the terminal viewer asks a kept store about many spans at
 * once (assembler methods): a span's children as a view's items (runs of
 * repeated names grouped), the rows below a span counted in C and
 * remembered, the ancestors of changed spans, the by-start index with its
 * buckets and their statistics, name search, the widths of names and
 * error messages (for sharing out columns).
 *
 * Key idea: each answer is one C call over refs, so a view of 10^6 spans
 * holds no Lua value per span: the row counts of subtrees nobody folded
 * live here (4 bytes a span), not in Lua.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lassemble.h"

static int get(lasm *la, uint32_t r, sl_aspan *s)
{
    return sl_assembler_get(la->a, r, s);
}

/* ===== ITEMS ===== */

/* asm:items(ref, min_run) -> items, counts, leaves
 * A span's children by start as a view's items: a run of at least min_run
 * siblings of one name becomes a group { group = true, first = ref, i =
 * index of the first, n = members, name, leaves = members have no
 * children, parent = ref }; counts[k] = the child count of item k when it
 * is a span (nil for a group); leaves: every item is a span without
 * children. */
static int l_items(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t r = lsl_asm_ref(L, la, 2);
    lua_Integer min_run = luaL_checkinteger(L, 3);
    size_t n = sl_assembler_children(la->a, r, NULL, 0);
    uint32_t *kids = lua_newuserdatauv(L, (n ? n : 1) * (sizeof *kids * 3), 0);
    uint32_t *names = kids + n, *counts = kids + 2 * n;
    sl_assembler_children(la->a, r, kids, n);
    sl_aspan s;
    for (size_t i = 0; i < n; i++) {
        get(la, kids[i], &s);
        names[i] = s.name_id;
        counts[i] = s.nchildren;
    }
    lua_newtable(L);   /* items */
    int items = lua_gettop(L);
    lua_newtable(L);   /* counts */
    int cnts = lua_gettop(L);
    int leaves = 1;
    lua_Integer k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && names[j + 1] == names[i] && names[i] != SL_NO_SPAN) j++;
        size_t run = j - i + 1;
        if (min_run > 0 && run >= (size_t)min_run) {
            int member_leaves = 1;
            for (size_t m = i; m <= j; m++) member_leaves &= counts[m] == 0;
            lua_createtable(L, 0, 7);
            lua_pushboolean(L, 1); lua_setfield(L, -2, "group");
            lua_pushinteger(L, kids[i]); lua_setfield(L, -2, "first");
            lua_pushinteger(L, (lua_Integer)i + 1); lua_setfield(L, -2, "i");
            lua_pushinteger(L, (lua_Integer)run); lua_setfield(L, -2, "n");
            lua_pushboolean(L, member_leaves); lua_setfield(L, -2, "leaves");
            lua_pushinteger(L, r); lua_setfield(L, -2, "parent");
            get(la, kids[i], &s);
            lua_pushlstring(L, s.name ? s.name : "?", s.name ? s.name_len : 1);
            lua_setfield(L, -2, "name");
            lua_rawseti(L, items, ++k);
            leaves = 0;
        } else {
            for (size_t m = i; m <= j; m++) {
                lua_pushinteger(L, kids[m]);
                lua_rawseti(L, items, ++k);
                lua_pushinteger(L, counts[m]);
                lua_rawseti(L, cnts, k);
                if (counts[m]) leaves = 0;
            }
        }
        i = j + 1;
    }
    lua_pushboolean(L, leaves);
    return 3;
}

/* ===== ROW COUNTS ===== */

#define UNCOUNTED UINT32_MAX

/* The rows below x from its children's counts (all known), or
 * UNCOUNTED when a child with children is not counted yet (pushed). */
static uint32_t count_from_children(lasm *la, uint32_t x, uint32_t **kids, size_t *kcap,
                                    uint32_t **stack, size_t *top, size_t *cap, int *oom)
{
    size_t n = sl_assembler_children(la->a, x, NULL, 0);
    if (n > *kcap) {
        uint32_t *nk = realloc(*kids, n * 3 * sizeof *nk);
        if (!nk) { *oom = 1; return UNCOUNTED; }
        *kids = nk;
        *kcap = n;
    }
    uint32_t *k = *kids, *names = k + n, *counts = k + 2 * n;
    sl_assembler_children(la->a, x, k, n);
    sl_aspan s;
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        get(la, k[i], &s);
        names[i] = s.name_id;
        counts[i] = s.nchildren;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && names[j + 1] == names[i] && names[i] != SL_NO_SPAN) j++;
        int grouped = la->rows_min_run > 0 && j - i + 1 >= la->rows_min_run;
        if (grouped) total++;
        if (!grouped || la->rows_groups_open) {
            for (size_t m = i; m <= j; m++) {
                total++;
                if (!counts[m]) continue;
                uint32_t c = la->rows[k[m]];
                if (c != UNCOUNTED) {
                    total += c;
                    continue;
                }
                missing = 1;
                if (*top == *cap) {
                    uint32_t *ns = realloc(*stack, *cap * 2 * sizeof *ns);
                    if (!ns) { *oom = 1; return UNCOUNTED; }
                    *stack = ns;
                    *cap *= 2;
                }
                (*stack)[(*top)++] = k[m];
            }
        }
        i = j + 1;
    }
    if (missing) return UNCOUNTED;
    return total >= UNCOUNTED ? UNCOUNTED - 1 : (uint32_t)total;
}

/* Makes the row-count memo fit every span and these settings. */
static int rows_ready(lasm *la, size_t min_run, int groups_open)
{
    sl_asm_stats st;
    sl_assembler_stats(la->a, &st);
    size_t need = (size_t)st.spans + 1;
    if (la->rows && (la->rows_min_run != min_run || la->rows_groups_open != groups_open))
        memset(la->rows, 0xff, la->rows_cap * sizeof *la->rows);
    la->rows_min_run = min_run;
    la->rows_groups_open = groups_open;
    if (need <= la->rows_cap) return 0;
    size_t cap = la->rows_cap ? la->rows_cap : 1024;
    while (cap < need) cap *= 2;
    uint32_t *nr = realloc(la->rows, cap * sizeof *nr);
    if (!nr) return -1;
    memset(nr + la->rows_cap, 0xff, (cap - la->rows_cap) * sizeof *nr);
    la->rows = nr;
    la->rows_cap = cap;
    return 0;
}

/* asm:rows_below(ref, min_run, groups_open) -> the rows of the view below
 * a span whose subtree is in its default state (every span unfolded; runs
 * of at least min_run same-named siblings one row each, plus their members'
 * rows when groups_open). Counted bottom up without recursion and
 * remembered per span (asm:ancestors forgets the counts it walks). */
static int l_rows_below(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t root = lsl_asm_ref(L, la, 2);
    size_t min_run = (size_t)luaL_checkinteger(L, 3);
    if (rows_ready(la, min_run, lua_toboolean(L, 4)) != 0) return luaL_error(L, "out of memory");
    size_t cap = 64, top = 0, kcap = 0;
    uint32_t *stack = malloc(cap * sizeof *stack), *kids = NULL;
    if (!stack) return luaL_error(L, "out of memory");
    int oom = 0;
    stack[top++] = root;
    while (top > 0 && !oom) {
        uint32_t x = stack[top - 1];
        if (la->rows[x] != UNCOUNTED) {
            top--;
            continue;
        }
        uint32_t c = count_from_children(la, x, &kids, &kcap, &stack, &top, &cap, &oom);
        if (c != UNCOUNTED) {
            la->rows[x] = c;
            top--;
        }
    }
    free(stack);
    free(kids);
    if (oom) return luaL_error(L, "out of memory");
    lua_pushinteger(L, la->rows[root]);
    return 1;
}

/* asm:ancestors(refs) -> { the refs and all their ancestors, each once };
 * their row counts (asm:rows_below) are forgotten on the way. */
static int l_ancestors(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = lua_rawlen(L, 2);
    /* an open-addressing set of the refs met, at most half full */
    size_t cap = 64;
    while (cap < 4 * n) cap *= 2;
    uint32_t *set = lua_newuserdatauv(L, cap * sizeof *set, 0);
    memset(set, 0xff, cap * sizeof *set);
    lua_newtable(L);
    lua_Integer out = 0;
    size_t used = 0;
    sl_aspan s;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i);
        lua_Integer v = lua_tointeger(L, -1);
        lua_pop(L, 1);
        uint32_t r = (uint32_t)v;
        while (r != SL_NO_SPAN && get(la, r, &s) == SL_OK) {
            if (used * 2 >= cap) {
                /* grow: rehash into a bigger set */
                size_t ncap = cap * 2;
                uint32_t *ns = lua_newuserdatauv(L, ncap * sizeof *ns, 0);
                memset(ns, 0xff, ncap * sizeof *ns);
                for (size_t k = 0; k < cap; k++) {
                    if (set[k] == SL_NO_SPAN) continue;
                    size_t h = (set[k] * 2654435761u) & (ncap - 1);
                    while (ns[h] != SL_NO_SPAN) h = (h + 1) & (ncap - 1);
                    ns[h] = set[k];
                }
                lua_replace(L, 3);   /* the old set goes */
                set = ns;
                cap = ncap;
            }
            size_t h = (r * 2654435761u) & (cap - 1);
            while (set[h] != SL_NO_SPAN && set[h] != r) h = (h + 1) & (cap - 1);
            if (set[h] == r) break;   /* met before: its ancestors too */
            set[h] = r;
            used++;
            if (r < la->rows_cap) la->rows[r] = UNCOUNTED;
            lua_pushinteger(L, r);
            lua_rawseti(L, -2, ++out);
            r = s.parent_ref;
        }
    }
    return 1;
}

/* ===== BY START ===== */

/* asm:by_start() -> n, resorted: brings the index up to date */
static int l_by_start(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    const uint32_t *refs;
    int resorted;
    size_t n = sl_assembler_by_start(la->a, &refs, &resorted);
    lua_pushinteger(L, (lua_Integer)n);
    lua_pushboolean(L, resorted);
    return 2;
}

static const uint32_t *index_of_start(lasm *la, size_t *n)
{
    const uint32_t *refs;
    *n = sl_assembler_by_start(la->a, &refs, NULL);
    return refs;
}

/* asm:by_start_at(i) -> ref of the i-th span by start (1-based) | nil */
static int l_by_start_at(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    size_t n;
    const uint32_t *refs = index_of_start(la, &n);
    if (i < 1 || (size_t)i > n) return 0;
    lua_pushinteger(L, refs[i - 1]);
    return 1;
}

/* asm:by_start_index(ref) -> i | nil (binary search by start, then id) */
static int l_by_start_index(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    uint32_t r = lsl_asm_ref(L, la, 2);
    size_t n;
    const uint32_t *refs = index_of_start(la, &n);
    sl_aspan s, m;
    get(la, r, &s);
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        get(la, refs[mid], &m);
        int less = m.start < s.start || (m.start == s.start && memcmp(m.id.bytes, s.id.bytes, 16) < 0);
        if (less) lo = mid + 1; else hi = mid;
    }
    if (lo < n && refs[lo] == r) {
        lua_pushinteger(L, (lua_Integer)lo + 1);
        return 1;
    }
    return 0;
}

/* Appends { key, first, n } to the table on the stack top, at index nb. */
static void push_run(lua_State *L, lua_Integer nb, lua_Integer key, lua_Integer first, lua_Integer count)
{
    lua_createtable(L, 3, 0);
    lua_pushinteger(L, key);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, first);
    lua_rawseti(L, -2, 2);
    lua_pushinteger(L, count);
    lua_rawseti(L, -2, 3);
    lua_rawseti(L, -2, nb);
}

/* asm:buckets(t0, interval [, from]) -> { { key, first, n }, ... }: the
 * runs of the by-start index (from index from, 1-based) whose
 * (start - t0) // interval is the same key */
static int l_buckets(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    lua_Integer t0 = luaL_checkinteger(L, 2), interval = luaL_checkinteger(L, 3);
    lua_Integer from = luaL_optinteger(L, 4, 1);
    if (interval <= 0) return luaL_argerror(L, 3, "interval must be positive");
    size_t n;
    const uint32_t *refs = index_of_start(la, &n);
    lua_newtable(L);
    lua_Integer nb = 0, key = 0, first = 0, count = 0;
    sl_aspan s;
    for (size_t i = from > 0 ? (size_t)from - 1 : 0; i < n; i++) {
        get(la, refs[i], &s);
        lua_Integer k = ((lua_Integer)s.start - t0) / interval;
        if ((lua_Integer)s.start < t0 && ((lua_Integer)s.start - t0) % interval) k--;
        if (count > 0 && k == key) {
            count++;
            continue;
        }
        if (count > 0) push_run(L, ++nb, key, first, count);
        key = k;
        first = (lua_Integer)i + 1;
        count = 1;
    }
    if (count > 0) push_run(L, ++nb, key, first, count);
    return 1;
}

/* asm:range_stats(first, n) -> count, errors, open, slowest ref | nil, its
 * duration: over the by-start index's entries first .. first + n - 1 */
static int l_range_stats(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
    size_t n;
    const uint32_t *refs = index_of_start(la, &n);
    lua_Integer errors = 0, open = 0, seen = 0;
    uint32_t slowest = SL_NO_SPAN;
    uint64_t slowest_dur = 0;
    sl_aspan s;
    for (lua_Integer i = first; i < first + count; i++) {
        if (i < 1 || (size_t)i > n) continue;
        get(la, refs[i - 1], &s);
        seen++;
        if (s.status_len == 5 && memcmp(s.status, "error", 5) == 0) errors++;
        if (!(s.flags & SL_ASPAN_ENDED)) {
            open++;
            continue;
        }
        uint64_t d = s.finish - s.start;
        if (slowest == SL_NO_SPAN || d > slowest_dur) {
            slowest = s.ref;
            slowest_dur = d;
        }
    }
    lua_pushinteger(L, seen);
    lua_pushinteger(L, errors);
    lua_pushinteger(L, open);
    if (slowest == SL_NO_SPAN) return 3;
    lua_pushinteger(L, slowest);
    lua_pushinteger(L, (lua_Integer)slowest_dur);
    return 5;
}

/* ===== SEARCH ===== */

/* asm:search(term, cur [, roots]) -> { matching refs }, before
 * In the order of the trees under roots (depth first, children by start),
 * or of the by-start index without roots. before: how many matches come
 * before span cur in that order (nil when cur is not in it). */
static int l_search(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    size_t tlen;
    const char *term = luaL_checklstring(L, 2, &tlen);
    uint32_t cur = lua_isnoneornil(L, 3) ? SL_NO_SPAN : lsl_asm_ref(L, la, 3);
    const uint32_t *order;
    size_t n;
    int tree = !lua_isnoneornil(L, 4);
    if (tree) {
        luaL_checktype(L, 4, LUA_TTABLE);
        n = lua_rawlen(L, 4);
        uint32_t *roots = lua_newuserdatauv(L, (n ? n : 1) * sizeof *roots, 0);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, 4, (lua_Integer)i + 1);
            roots[i] = lsl_asm_ref(L, la, -1);
            lua_pop(L, 1);
        }
        order = roots;
    } else {
        order = index_of_start(la, &n);
    }
    const uint32_t *found;
    size_t before;
    size_t m = sl_assembler_search(la->a, order, n, tree, term, tlen, cur, &found, &before);
    lsl_push_refs(L, found, m);
    if (before == SIZE_MAX) return 1;
    lua_pushinteger(L, (lua_Integer)before);
    return 2;
}

/* ===== COLUMN WIDTHS ===== */

/* Terminal columns of UTF-8 text, roughly: one per code point (a view
 * measures to share columns out, and cuts what is wider anyway). */
static size_t columns(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

#define WIDTH_DEPTHS 32

static void widen(lasm *la, uint32_t r, size_t *err, size_t *names)
{
    sl_aspan s;
    if (get(la, r, &s) != SL_OK) return;
    if (s.error && s.status_len == 5 && memcmp(s.status, "error", 5) == 0) {
        size_t c = columns(s.error, s.error_len);
        if (c > *err) *err = c;
    }
    if (s.name) {
        size_t d = s.depth < WIDTH_DEPTHS ? s.depth : WIDTH_DEPTHS - 1;
        size_t c = columns(s.name, s.name_len);
        if (c > names[d]) names[d] = c;
    }
}

/* asm:widths([refs]) -> widest error message, { [depth + 1] = widest name
 * at that depth }: over those spans (every span without refs), in columns
 * (the last depth counts every deeper span). A view shares its columns out
 * by what they hold, and asks again only for the spans that changed. */
static int l_widths(lua_State *L)
{
    lasm *la = lsl_asm_check(L, 1);
    size_t err = 0, names[WIDTH_DEPTHS] = {0};
    if (lua_isnoneornil(L, 2)) {
        sl_asm_stats st;
        sl_assembler_stats(la->a, &st);
        for (uint32_t r = 0; r < st.spans; r++) widen(la, r, &err, names);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        size_t n = lua_rawlen(L, 2);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, (lua_Integer)i);
            widen(la, lsl_asm_ref(L, la, -1), &err, names);
            lua_pop(L, 1);
        }
    }
    lua_pushinteger(L, (lua_Integer)err);
    lua_createtable(L, WIDTH_DEPTHS, 0);
    for (int d = 0; d < WIDTH_DEPTHS; d++) {
        lua_pushinteger(L, (lua_Integer)names[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 2;
}

const luaL_Reg lsl_view_methods[] = {
    { "items", l_items },
    { "rows_below", l_rows_below },
    { "ancestors", l_ancestors },
    { "by_start", l_by_start },
    { "by_start_at", l_by_start_at },
    { "by_start_index", l_by_start_index },
    { "buckets", l_buckets },
    { "range_stats", l_range_stats },
    { "search", l_search },
    { "widths", l_widths },
    { NULL, NULL }
};
