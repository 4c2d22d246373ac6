/*
 * lwhere.c: core.where_program(tree): a --where expression simple enough
 * to judge in C (comparisons of span fields with literals, substring and
 * prefix tests `name:find("db")`, `name:match("^db")`, joined by and, or,
 * not), so `spanline filter` need not fill a Lua table and call the
 * sandboxed predicate for every span (query/expr_simple.lua builds the
 * tree; asm:filter runs the program).
 *
 * Key idea: the program answers exactly what the Lua expression would, or
 * says it cannot: a comparison the Lua expression would raise on (an
 * ordering with a nil field: `dur > 5ms` on an open span) answers
 * "unknown", and the caller runs the Lua predicate for that span, which
 * raises and is counted as it always was. Field values are those
 * lsl_fill_span puts in a span table (lspanobj.c), read from the sl_aspan.
 */
#include <string.h>

#include "lbinding.h"
#include "lspanobj.h"
#include "lwhere.h"

#define WHERE_MT "spanline.where_program"
#define MAX_NODES 64

enum node_op { N_OR, N_AND, N_NOT, N_TRUTH, N_CMP, N_FIND };
enum rel { R_EQ, R_NE, R_LT, R_LE, R_GT, R_GE };
enum lit { L_NIL, L_INT, L_STR };

typedef struct node {
    uint8_t op, rel, lit;    /* N_FIND: rel 1 = anchored (a prefix test) */
    uint8_t field;           /* LSL_F_* */
    uint16_t a, b;           /* operands (N_OR, N_AND, N_NOT) */
    int64_t i;               /* L_INT */
    uint32_t str, len;       /* L_STR, N_FIND: offset and length in the program's text */
} node;

struct lsl_where {
    int n;
    node nodes[MAX_NODES];
    size_t text_len;
    char text[];             /* the string literals */
};

/* ===== EVALUATION ===== */

/* A field's value as lsl_fill_span sets it: 0 nil, 1 an integer (*i), 2 a
 * string (*s, *n), 3 true (a flag; orphan reads false when not set). */
static int field_value(const sl_aspan *s, int field, int64_t *i, const char **str, size_t *n)
{
    int started = (s->flags & SL_ASPAN_STARTED) != 0, ended = (s->flags & SL_ASPAN_ENDED) != 0;
    switch (field) {
    case LSL_F_NAME: *str = s->name; *n = s->name_len; return started && s->name ? 2 : 0;
    case LSL_F_STATUS: *str = s->status; *n = s->status_len; return s->status ? 2 : 0;
    case LSL_F_ERROR: *str = s->error; *n = s->error_len; return s->error ? 2 : 0;
    case LSL_F_START: *i = (int64_t)s->start; return started;
    case LSL_F_FINISH: *i = (int64_t)s->finish; return ended;
    case LSL_F_DUR: *i = (int64_t)(s->finish - s->start); return started && ended;
    case LSL_F_LANE: *i = s->lane; return started;
    case LSL_F_DEPTH: *i = s->depth; return 1;
    case LSL_F_SELF: *i = s->self; return started && ended;
    case LSL_F_LINE: *i = (int64_t)s->line; return started;
    case LSL_F_ORPHAN: return (s->flags & SL_ASPAN_ORPHAN) ? 3 : 0;
    case LSL_F_REMOTE: return (s->flags & SL_ASPAN_REMOTE_PARENT) ? 3 : 0;
    default: return -1;
    }
}

static int compare(const lsl_where *w, const node *d, const sl_aspan *s)
{
    int64_t i = 0;
    const char *str = NULL;
    size_t n = 0;
    int kind = field_value(s, d->field, &i, &str, &n);
    if (kind < 0) return -1;
    int eq;
    if (d->lit == L_NIL) {
        eq = kind == 0;
    } else if (d->lit == L_INT && kind == 1) {
        switch (d->rel) {
        case R_LT: return i < d->i;
        case R_LE: return i <= d->i;
        case R_GT: return i > d->i;
        case R_GE: return i >= d->i;
        default: eq = i == d->i;
        }
    } else if (d->lit == L_STR && kind == 2) {
        eq = n == d->len && memcmp(str, w->text + d->str, n) == 0;
    } else {
        eq = 0;   /* different types: never equal, and ordering them raises */
    }
    if (d->rel == R_EQ) return eq;
    if (d->rel == R_NE) return !eq;
    return -1;
}

/* field:find(text) or :match(text), text without pattern characters
 * (but a leading ^): whether text occurs (at the start); on nil Lua
 * raises. */
static int find(const lsl_where *w, const node *d, const sl_aspan *s)
{
    int64_t i;
    const char *str = NULL;
    size_t n = 0;
    if (field_value(s, d->field, &i, &str, &n) != 2) return -1;
    if (d->len == 0) return 1;
    if (d->rel) return n >= d->len && memcmp(str, w->text + d->str, d->len) == 0;
    return memmem(str, n, w->text + d->str, d->len) != NULL;
}

static int eval(const lsl_where *w, int k, const sl_aspan *s)
{
    const node *d = &w->nodes[k];
    int x;
    switch (d->op) {
    case N_OR:
        x = eval(w, d->a, s);
        return x != 0 ? x : eval(w, d->b, s);
    case N_AND:
        x = eval(w, d->a, s);
        return x != 1 ? x : eval(w, d->b, s);
    case N_NOT:
        x = eval(w, d->a, s);
        return x < 0 ? x : !x;
    case N_TRUTH: {
        int64_t i;
        const char *str;
        size_t n;
        x = field_value(s, d->field, &i, &str, &n);
        return x < 0 ? -1 : x != 0;
    }
    case N_FIND:
        return find(w, d, s);
    default:
        return compare(w, d, s);
    }
}

int lsl_where_eval(const lsl_where *w, const sl_aspan *s)
{
    return w->n > 0 ? eval(w, w->n - 1, s) : -1;
}

lsl_where *lsl_where_opt(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : luaL_checkudata(L, idx, WHERE_MT);
}

/* ===== BUILDING ===== */

static const char *const FIELDS[] = { "name", "status", "error", "start", "finish", "dur", "lane",
    "depth", "self", "line", "orphan", "remote_parent", NULL };
static const int FIELD_IDS[] = { LSL_F_NAME, LSL_F_STATUS, LSL_F_ERROR, LSL_F_START, LSL_F_FINISH,
    LSL_F_DUR, LSL_F_LANE, LSL_F_DEPTH, LSL_F_SELF, LSL_F_LINE, LSL_F_ORPHAN, LSL_F_REMOTE };

typedef struct builder {
    lsl_where *w;
    size_t text_cap;
} builder;

/* Copies a string literal into the program's text for node d. */
static void add_text(lua_State *L, builder *b, node *d, const char *str, size_t n)
{
    lsl_where *w = b->w;
    if (w->text_len + n > b->text_cap) luaL_error(L, "where program: literals too long");
    memcpy(w->text + w->text_len, str, n);
    d->str = (uint32_t)w->text_len;
    d->len = (uint32_t)n;
    w->text_len += n;
}

/* Adds the node for the tree at the stack top (children first, so the
 * root is the last node); returns its index. */
static int build(lua_State *L, builder *b)
{
    luaL_checktype(L, -1, LUA_TTABLE);
    lsl_where *w = b->w;
    static const char *const OPS[] = { "or", "and", "not", "truth", "cmp", "find", NULL };
    lua_getfield(L, -1, "op");
    int op = luaL_checkoption(L, -1, NULL, OPS);
    lua_pop(L, 1);
    node d;
    memset(&d, 0, sizeof d);
    d.op = (uint8_t)op;
    if (op == N_OR || op == N_AND || op == N_NOT) {
        lua_rawgeti(L, -1, 1);
        d.a = (uint16_t)build(L, b);
        lua_pop(L, 1);
        if (op != N_NOT) {
            lua_rawgeti(L, -1, 2);
            d.b = (uint16_t)build(L, b);
            lua_pop(L, 1);
        }
    } else {
        lua_getfield(L, -1, "field");
        d.field = (uint8_t)FIELD_IDS[luaL_checkoption(L, -1, NULL, FIELDS)];
        lua_pop(L, 1);
        /* orphan reads false, remote_parent nil when not set: only their truth is asked */
        if (op == N_CMP && (d.field == LSL_F_ORPHAN || d.field == LSL_F_REMOTE))
            luaL_error(L, "where program: a flag field is not compared");
    }
    if (op == N_FIND) {
        lua_getfield(L, -1, "value");
        size_t n;
        const char *str = luaL_checklstring(L, -1, &n);
        if (d.field != LSL_F_NAME && d.field != LSL_F_STATUS && d.field != LSL_F_ERROR)
            luaL_error(L, "where program: find on a field that is not a string");
        if (strpbrk(str, "^$*+?.([%-") || strlen(str) != n)
            luaL_error(L, "where program: find with pattern characters");
        add_text(L, b, &d, str, n);
        lua_getfield(L, -2, "anchored");
        d.rel = (uint8_t)lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    if (op == N_CMP) {
        static const char *const RELS[] = { "==", "~=", "<", "<=", ">", ">=", NULL };
        lua_getfield(L, -1, "rel");
        d.rel = (uint8_t)luaL_checkoption(L, -1, NULL, RELS);
        lua_getfield(L, -2, "value");
        if (lua_isinteger(L, -1)) {
            d.lit = L_INT;
            d.i = lua_tointeger(L, -1);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            size_t n;
            const char *str = lua_tolstring(L, -1, &n);
            d.lit = L_STR;
            add_text(L, b, &d, str, n);
        } else if (lua_isnil(L, -1)) {
            d.lit = L_NIL;
        } else {
            luaL_error(L, "where program: a literal must be an integer, a string or nil");
        }
        lua_pop(L, 2);
    }
    if (w->n == MAX_NODES) luaL_error(L, "where program: more than %d nodes", MAX_NODES);
    w->nodes[w->n] = d;
    return w->n++;
}

/* core.where_program(tree, text_bytes) -> program
 * tree: { op = "or"|"and", a, b } | { op = "not", a } | { op = "truth",
 * field = f } | { op = "cmp", field = f, rel = "==", value = integer |
 * string | nil } | { op = "find", field = f, value = plain text,
 * anchored = at the start only };
 * text_bytes: the total length of its string literals. */
static int l_where_program(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer cap = luaL_checkinteger(L, 2);
    luaL_argcheck(L, cap >= 0 && cap < (1 << 20), 2, "must be a length below 1 MiB");
    lsl_where *w = lua_newuserdatauv(L, sizeof *w + (size_t)cap, 0);
    w->n = 0;
    w->text_len = 0;
    builder b = { w, (size_t)cap };
    lua_pushvalue(L, 1);
    build(L, &b);
    lua_pop(L, 1);
    luaL_setmetatable(L, WHERE_MT);
    return 1;
}

void lsl_open_where(lua_State *L)
{
    luaL_newmetatable(L, WHERE_MT);
    lua_pop(L, 1);
    lua_pushcfunction(L, l_where_program);
    lua_setfield(L, -2, "where_program");
}
