/*
 * lspanobj.h: assembled spans as Lua tables (lspanobj.c), shared by the
 * assembler binding (lassemble.c).
 */
#ifndef LSL_SPANOBJ_H
#define LSL_SPANOBJ_H

#include <lua.h>

#include "spanline.h"

#define LSL_SPAN_MT "spanline.assembled_span"
#define LSL_EMPTY "spanline.EMPTY"

/* Span fields, as bits of a mask. children and parent_span are linked by
 * whoever hands out several spans (lassemble.c, query/spans.lua). */
enum {
    LSL_F_ID, LSL_F_TRACE, LSL_F_PARENT, LSL_F_NAME, LSL_F_START, LSL_F_FINISH, LSL_F_DUR,
    LSL_F_STATUS, LSL_F_ERROR, LSL_F_ATTRS, LSL_F_EVENTS, LSL_F_LANE, LSL_F_DEPTH, LSL_F_SELF,
    LSL_F_ORPHAN, LSL_F_REMOTE, LSL_F_LINE, LSL_F_CYCLE, LSL_F_DUPLICATE, LSL_F_CHILDREN,
    LSL_F_PARENT_SPAN, LSL_F_COUNT
};
#define LSL_F_ALL ((1u << LSL_F_COUNT) - 1)

/* A mask from a list of field names at idx (nil: every field); raises on
 * an unknown name. */
unsigned lsl_field_mask(lua_State *L, int idx);
/* Sets the fields in mask on the table at t (nil for the absent ones). */
void lsl_fill_span(lua_State *L, int t, sl_assembler *a, const sl_aspan *s, unsigned mask);
/* Registers the span metatable and sets core.EMPTY and core.span_mt on the
 * module table on the stack top. */
void lsl_open_spanobj(lua_State *L);
/* Pushes a new span table (with the span metatable). */
void lsl_push_span(lua_State *L, sl_assembler *a, const sl_aspan *s, unsigned mask);

#endif
