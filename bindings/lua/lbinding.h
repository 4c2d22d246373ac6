/*
 * lbinding.h: what the files of the Lua module spanline.core share.
 *
 * One file per concept (tracer + spans + context, reader, misc); each has one
 * function that adds its functions to the module table on the top of the
 * stack. lmodule.c calls them all from luaopen_spanline_core.
 */
#ifndef LSL_BINDING_H
#define LSL_BINDING_H

#include <lua.h>
#include <lauxlib.h>

#include "spanline.h"

/* Run-time failure at the Lua boundary: pushes nil, message, code; returns 3. */
int lsl_fail(lua_State *L, const char *message, const char *code);
/* Same, from an sl_error. */
int lsl_fail_error(lua_State *L, const sl_error *err);
/* Same, for a tracer that could not write: rc (SL_EIO with the errno, or
 * SL_ETIMEDOUT) -> "cannot write the trace: ...", "ENOSPC" (lfaults.c). */
int lsl_write_fail(lua_State *L, int rc, int sys_errno);

/* lmodule.c: registers a userdata type (metatable `name`, __index = methods,
 * each with the metatable as upvalue 1; __gc and __close = gc when not
 * NULL). */
void lsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);
/* In such a method: the userdata at idx of that type, else a type error.
 * Comparing the metatable with the upvalue is cheaper than
 * luaL_checkudata's registry lookup by name, for methods called once per
 * span (inline: a call more shows in them). */
static inline void *lsl_check_self(lua_State *L, int idx, const char *name)
{
    void *p = lua_touserdata(L, idx);
    if (!p || !lua_getmetatable(L, idx) || !lua_rawequal(L, -1, lua_upvalueindex(1)))
        luaL_typeerror(L, idx, name);
    lua_pop(L, 1);
    return p;
}

void lsl_open_tracer(lua_State *L);  /* ltracer.c: tracer, span, context */
void lsl_open_reader(lua_State *L);  /* lreader.c: stream reader */
void lsl_open_util(lua_State *L);    /* lutil.c: clock, ids, traceparent */
void lsl_open_samples(lua_State *L); /* lsamples.c: exact percentiles */
void lsl_open_assemble(lua_State *L); /* lassemble.c, lkeep.c: core.assembler */
void lsl_open_json(lua_State *L);     /* ljson.c: core.json_decode, json_quote, json_double */
void lsl_open_otlp(lua_State *L);    /* lotlp.c: OTLP encoder and pusher, format recoder */
void lsl_open_faults(lua_State *L);  /* lfaults.c: dump, crash and signal handlers */
void lsl_open_sandbox(lua_State *L); /* lsandbox.c: calls under time and memory budgets */
void lsl_open_where(lua_State *L);   /* lwhere.c: simple --where expressions judged in C */
void lsl_open_process(lua_State *L); /* lprocess.c: signals and an exit note for `spanline run` */

/* ljson.c: pushes the value of a JSON text (integers stay integers); on
 * bad JSON pushes nil and returns 0. */
int lsl_json_push(lua_State *L, const char *s, size_t len);

/* lreader.c: a stream reader userdata (READER_MT). */
#define LSL_READER_MT "spanline.reader"
typedef struct lreader {
    sl_reader *r;
    int raw;        /* put the record's raw bytes in rec.raw */
    int string_ref; /* reader_string: the string kept alive */
} lreader;
lreader *lsl_reader_check(lua_State *L, int idx);
/* nil, message, code for a failed sl_reader_next (rc). */
int lsl_reader_fail(lua_State *L, lreader *lr, int rc);
/* Pushes an id as 32 hex digits (16 when is_short: a W3C span-id). */
void lsl_push_id(lua_State *L, const sl_id *id, int is_short);
/* Reads a record table at idx (argument number arg in errors). */
void lsl_record_from_table(lua_State *L, int idx, int arg, sl_record *rec);

/* lsandbox.c: calling a core.bounded function from C without the call of
 * the wrapper and its extra protected call. lsl_bounded_open: for the
 * core.bounded function at idx, pushes the function it wraps and returns
 * its budgets (NULL, nothing pushed, for any other value).
 * lsl_bounded_pcall: with that function and nargs arguments pushed, calls
 * it as lua_pcall(L, nargs, nresults, 0) would under the budgets of the
 * core.bounded function at fidx; over a limit the error is on_limit's
 * object, and so is every later call's. */
typedef struct lsl_bounded lsl_bounded;
lsl_bounded *lsl_bounded_open(lua_State *L, int idx);
int lsl_bounded_pcall(lua_State *L, lsl_bounded *b, int fidx, int nargs, int nresults);

#endif
