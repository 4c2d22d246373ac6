/*
 * binding.h: what the files of the Lua module spanline.core share.
 *
 * One file per concept (tracer + spans + context, reader, misc); each has one
 * function that adds its functions to the module table on the top of the
 * stack. module.c calls them all from luaopen_spanline_core.
 */
#ifndef SL_BINDING_H
#define SL_BINDING_H

#include <lua.h>
#include <lauxlib.h>

#include "spanline.h"

/* Run-time failure at the Lua boundary: pushes nil, message, code; returns 3. */
int sl_lua_fail(lua_State *L, const char *message, const char *code);
/* Same, from an sl_error. */
int sl_lua_fail_error(lua_State *L, const sl_error *err);

void sl_lua_open_tracer(lua_State *L);  /* tracer.c: tracer, span, context */
void sl_lua_open_reader(lua_State *L);  /* reader.c: stream reader */
void sl_lua_open_util(lua_State *L);    /* util.c: clock, ids, traceparent */

#endif
