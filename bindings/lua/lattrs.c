/*
 * lattrs.c: Lua attribute tables -> sl_attr arrays for the core.
 *
 * Key idea: one pass over the table into per-state scratch arrays (no
 * allocation once they have grown); strings are not copied, they stay owned
 * by the table, which is on the Lua stack while the core copies them.
 */
#include <string.h>

#include "ltrace.h"

/* Grows one of the state's scratch arrays to hold n attributes. */
static sl_attr *grow(lua_State *L, sl_attr **arr, size_t *cap, size_t n)
{
    if (n > *cap) {
        size_t c = *cap ? *cap : 16;
        while (c < n) c *= 2;
        void *ud;
        lua_Alloc f = lua_getallocf(L, &ud);
        sl_attr *p = (sl_attr *)f(ud, *arr, *cap * sizeof(sl_attr), c * sizeof(sl_attr));
        if (p == NULL) luaL_error(L, "not enough memory");
        *arr = p;
        *cap = c;
    }
    return *arr;
}

static int scalar_type(int t)
{
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

/* The scalar at idx, of Lua type t (read once by the caller). */
static void set_scalar(lua_State *L, int idx, int t, sl_attr *a)
{
    switch (t) {
    case LUA_TSTRING:
        a->type = SL_ATTR_STRING;
        a->v.s.ptr = lua_tolstring(L, idx, &a->v.s.len);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            a->type = SL_ATTR_INT;
            a->v.i = (int64_t)lua_tointeger(L, idx);
        } else {
            a->type = SL_ATTR_DOUBLE;
            a->v.d = (double)lua_tonumber(L, idx);
        }
        break;
    default:
        a->type = SL_ATTR_BOOL;
        a->v.b = lua_toboolean(L, idx);
        break;
    }
}

int lsl_attr_scalar(lua_State *L, int idx, sl_attr *a)
{
    int t = lua_type(L, idx);
    if (!scalar_type(t)) return 0;
    set_scalar(L, idx, t, a);
    return 1;
}

static void bad_value(lua_State *L, const char *key, const char *fname, int vidx)
{
    luaL_error(L, "bad attribute '%s' to '%s' (string, number, boolean or flat array expected, got %s)",
               key, fname, luaL_typename(L, vidx));
}

/* The value at vidx into *a; a flat array's items go to the state's item
 * scratch from *m on, and a->v.a.items holds their index until fix_items. */
static void set_value(lua_State *L, lsl_state *st, int vidx, sl_attr *a, size_t *m,
                      const char *key, const char *fname)
{
    int t = lua_type(L, vidx);
    if (scalar_type(t)) {
        set_scalar(L, vidx, t, a);
        return;
    }
    if (t != LUA_TTABLE) bad_value(L, key, fname, vidx);
    size_t n = (size_t)lua_rawlen(L, vidx);
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, vidx)) {
        count++;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
            (size_t)lua_tointeger(L, -2) > n || !scalar_type(lua_type(L, -1)))
            luaL_error(L, "bad attribute '%s' to '%s' (string, number, boolean or flat array expected, got table)",
                       key, fname);
        lua_pop(L, 1);
    }
    if (count != n) luaL_error(L, "bad attribute '%s' to '%s' (array with holes)", key, fname);
    sl_attr *items = grow(L, &st->items, &st->cap_items, *m + n) + *m;
    for (size_t i = 0; i < n; i++) {
        int it = lua_rawgeti(L, vidx, (lua_Integer)i + 1);
        items[i].key = NULL;
        items[i].key_len = 0;
        set_scalar(L, -1, it, &items[i]);  /* strings stay referenced by the table */
        lua_pop(L, 1);
    }
    a->type = SL_ATTR_ARRAY;
    a->v.a.items = (const sl_attr *)(uintptr_t)*m;
    a->v.a.n = n;
    *m += n;
}

static void fix_items(lsl_state *st, sl_attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].type == SL_ATTR_ARRAY) a[i].v.a.items = st->items + (uintptr_t)a[i].v.a.items;
}

const sl_attr *lsl_attrs_from_table(lua_State *L, lsl_state *st, int idx, size_t *nout, const char *fname)
{
    size_t n = 0, m = 0;
    int vidx = lua_gettop(L) + 2;   /* each value, above its key */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bad attribute key to '%s' (string expected, got %s)", fname,
                       luaL_typename(L, -2));
        sl_attr *a = n < st->cap_attrs ? st->attrs + n : grow(L, &st->attrs, &st->cap_attrs, n + 1) + n;
        a->key = lua_tolstring(L, -2, &a->key_len);
        set_value(L, st, vidx, a, &m, a->key, fname);
        n++;
        lua_pop(L, 1);
    }
    fix_items(st, st->attrs, n);
    *nout = n;
    return st->attrs;
}

/* Key order for seeded tracers: lua_next order depends on string hashes,
 * which are seeded per process. Insertion sort: attribute tables are small. */
static int key_less(const sl_attr *a, const sl_attr *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    return c < 0 || (c == 0 && a->key_len < b->key_len);
}

const sl_attr *lsl_attrs_from_table_sorted(lua_State *L, lsl_state *st, int idx, size_t *nout,
                                           const char *fname)
{
    sl_attr *a = (sl_attr *)lsl_attrs_from_table(L, st, idx, nout, fname);
    for (size_t i = 1; i < *nout; i++) {
        sl_attr x = a[i];
        size_t j = i;
        for (; j > 0 && key_less(&x, &a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = x;
    }
    return a;
}

const sl_attr *lsl_attrs_from_pair(lua_State *L, const char *key, size_t klen, int vidx,
                                   const char *fname)
{
    lsl_state *st = (lsl_state *)lua_touserdata(L, lua_upvalueindex(UV_STATE));
    vidx = lua_absindex(L, vidx);
    size_t m = 0;
    sl_attr *a = grow(L, &st->attrs, &st->cap_attrs, 1);
    a->key = key;
    a->key_len = klen;
    set_value(L, st, vidx, a, &m, key, fname);
    fix_items(st, a, 1);
    return a;
}

