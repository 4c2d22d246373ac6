/*
 * lmodule.c: luaopen_spanline_core, the one door between Lua and libspanline.
 *
 * Each concept's file registers its own functions; this file only builds the
 * module table and holds the shared error helpers (nil, message, code).
 */
#include <errno.h>
#include <string.h>

#include "lbinding.h"

int lsl_fail(lua_State *L, const char *message, const char *code)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushstring(L, code);
    return 3;
}

static const char *code_name(const sl_error *err)
{
    if (err->code == SL_EIO && err->sys_errno != 0) {
        switch (err->sys_errno) {
        case ENOENT: return "ENOENT";
        case EACCES: return "EACCES";
        case EISDIR: return "EISDIR";
        case ENOSPC: return "ENOSPC";
        case EPIPE: return "EPIPE";
        case EBADF: return "EBADF";
        default: return "EIO";
        }
    }
    switch (err->code) {
    case SL_EINVAL: return "EINVAL";
    case SL_ENOMEM: return "ENOMEM";
    case SL_ECLOSED: return "ECLOSED";
    case SL_ESTATE: return "ESTATE";
    case SL_EPARSE: return "EPARSE";
    case SL_ETIMEDOUT: return "ETIMEDOUT";
    default: return "EIO";
    }
}

int lsl_fail_error(lua_State *L, const sl_error *err)
{
    return lsl_fail(L, err->message, code_name(err));
}

/* Registers a userdata type: a metatable named `name` whose __index holds
 * `methods` (each with the metatable as upvalue 1, for lsl_check_self),
 * with `gc` as __gc (and __close) when given. */
void lsl_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    if (luaL_newmetatable(L, name)) {
        lua_newtable(L);
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, methods, 1);
        lua_setfield(L, -2, "__index");
        if (gc) {
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__gc");
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__close");
        }
    }
    lua_pop(L, 1);
}

/* The module's only exported symbol (see exports.map). */
__attribute__((visibility("default"))) int luaopen_spanline_core(lua_State *L);

int luaopen_spanline_core(lua_State *L)
{
    lua_newtable(L);
    lsl_open_util(L);
    lsl_open_tracer(L);
    lsl_open_faults(L);   /* after the tracer: adds tracer:dump */
    lsl_open_reader(L);
    lsl_open_samples(L);
    lsl_open_assemble(L);
    lsl_open_json(L);
    lsl_open_otlp(L);
    lsl_open_sandbox(L);
    lsl_open_where(L);
    lsl_open_process(L);
    lua_pushliteral(L, SL_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
