/*
 * ljson.c: JSON text at the binding: -> Lua values, for the attribute texts
 * the reader and the assembler keep (record attrs, span attrs, event
 * attrs); and strings and doubles written by the core's one JSON writer,
 * for spanline.json (core.json_quote, core.json_double).
 *
 * Key idea: a number written without a fraction or exponent that fits in
 * 64 bits becomes a Lua integer (lua-cjson makes every number a double, so
 * 3 came back as 3.0 and a nanosecond timestamp lost digits). Strings keep
 * their bytes (escapes decoded, \u surrogate pairs joined into UTF-8); null
 * leaves a key out. Nesting is capped, so bad input cannot exhaust the C
 * stack; bad input yields nil.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbinding.h"

#define MAX_DEPTH 64

typedef struct jp {
    const char *p, *end;
    lua_State *L;
} jp;

static void skip_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* Pushes the string at j->p (after its opening quote): escape-free ones
 * straight from the text, others through the core's decoder. */
static int parse_string(jp *j)
{
    const char *start = j->p;
    while (j->p < j->end && *j->p != '"' && *j->p != '\\') j->p++;
    if (j->p < j->end && *j->p == '"') {
        lua_pushlstring(j->L, start, (size_t)(j->p - start));
        j->p++;
        return 0;
    }
    const char *close = j->p;   /* the closing quote bounds the room the decoded text needs */
    while (close < j->end && *close != '"') close += *close == '\\' ? 2 : 1;
    if (close >= j->end) return -1;
    luaL_Buffer b;
    char *d = luaL_buffinitsize(j->L, &b, (size_t)(close - start));
    memcpy(d, start, (size_t)(j->p - start));
    char *end;
    const char *next = sl_json_unescape(j->p, close + 1, d + (j->p - start), &end);
    if (!next) return -1;
    luaL_pushresultsize(&b, (size_t)(end - d));
    j->p = next;
    return 0;
}

static int parse_number(jp *j)
{
    const char *s = j->p;
    int is_int = 1;
    if (j->p < j->end && *j->p == '-') j->p++;
    while (j->p < j->end) {
        char c = *j->p;
        if (c >= '0' && c <= '9') j->p++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { is_int = 0; j->p++; }
        else break;
    }
    size_t n = (size_t)(j->p - s);
    if (n == 0 || n > 64) return -1;
    char tmp[65];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *endp;
    if (is_int) {
        errno = 0;
        long long v = strtoll(tmp, &endp, 10);
        if (*endp == 0 && errno == 0) {
            lua_pushinteger(j->L, (lua_Integer)v);
            return 0;
        }
    }
    double d = strtod(tmp, &endp);
    if (*endp != 0) return -1;
    lua_pushnumber(j->L, d);
    return 0;
}

static int parse_value(jp *j, int depth);

static int parse_container(jp *j, int depth, int object)
{
    if (depth > MAX_DEPTH) return -1;
    luaL_checkstack(j->L, 4, "JSON nesting");
    lua_newtable(j->L);
    lua_Integer n = 0;
    skip_ws(j);
    if (j->p < j->end && *j->p == (object ? '}' : ']')) {
        j->p++;
        return 0;
    }
    for (;;) {
        skip_ws(j);
        if (object) {
            if (j->p >= j->end || *j->p != '"') return -1;
            j->p++;
            if (parse_string(j) != 0) return -1;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') return -1;
            j->p++;
        }
        if (parse_value(j, depth + 1) != 0) return -1;
        if (object) {
            if (lua_isnil(j->L, -1)) lua_pop(j->L, 2);  /* null: the key is left out */
            else lua_rawset(j->L, -3);
        } else {
            lua_rawseti(j->L, -2, ++n);  /* null leaves a hole, as in Lua */
        }
        skip_ws(j);
        if (j->p >= j->end) return -1;
        char c = *j->p++;
        if (c == ',') continue;
        if (c == (object ? '}' : ']')) return 0;
        return -1;
    }
}

static int literal(jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return -1;
    j->p += n;
    return 0;
}

static int parse_value(jp *j, int depth)
{
    skip_ws(j);
    if (j->p >= j->end) return -1;
    char c = *j->p;
    switch (c) {
    case '{': j->p++; return parse_container(j, depth, 1);
    case '[': j->p++; return parse_container(j, depth, 0);
    case '"': j->p++; return parse_string(j);
    case 't': if (literal(j, "true")) return -1; lua_pushboolean(j->L, 1); return 0;
    case 'f': if (literal(j, "false")) return -1; lua_pushboolean(j->L, 0); return 0;
    case 'n': if (literal(j, "null")) return -1; lua_pushnil(j->L); return 0;
    default: return parse_number(j);
    }
}

int lsl_json_push(lua_State *L, const char *s, size_t len)
{
    int top = lua_gettop(L);
    jp j = { s, s + len, L };
    if (parse_value(&j, 0) == 0) {
        skip_ws(&j);
        if (j.p == j.end) return 1;
    }
    lua_settop(L, top);
    lua_pushnil(L);
    return 0;
}

/* core.json_decode(text) -> value | nil (bad JSON) */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lsl_json_push(L, s, len);
    return 1;
}

/* core.json_quote(s) -> s as a JSON string literal, by the core's writer */
static int l_json_quote(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, SL_JSON_QUOTE_BOUND(n));
    luaL_pushresultsize(&b, (size_t)(sl_json_quote(o, s, n) - o));
    return 1;
}

/* core.json_double(x) -> the number x as the core writes a double */
static int l_json_double(lua_State *L)
{
    char out[SL_JSON_DOUBLE_BOUND];
    lua_pushlstring(L, out, (size_t)(sl_json_double(out, luaL_checknumber(L, 1)) - out));
    return 1;
}

static const luaL_Reg json_funcs[] = {
    { "json_decode", l_json_decode },
    { "json_quote", l_json_quote },
    { "json_double", l_json_double },
    { NULL, NULL }
};

void lsl_open_json(lua_State *L)
{
    luaL_setfuncs(L, json_funcs, 0);
}
