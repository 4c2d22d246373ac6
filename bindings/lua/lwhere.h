/*
 * lwhere.h: a --where expression judged in C (lwhere.c), for asm:filter.
 */
#ifndef LSL_WHERE_H
#define LSL_WHERE_H

#include <lua.h>

#include "spanline.h"

typedef struct lsl_where lsl_where;

/* 1 (matches), 0 (does not), -1 (the Lua expression decides: it would
 * raise, or the program cannot tell). */
int lsl_where_eval(const lsl_where *w, const sl_aspan *s);
/* The program at idx, or NULL when it is none or nil. */
lsl_where *lsl_where_opt(lua_State *L, int idx);

#endif
