/*
 * lassemble.h: the assembler userdata, shared by lassemble.c (core.assembler
 * and its streaming methods) and lkeep.c (what the viewer reads from a KEEP
 * store).
 */
#ifndef LSL_ASSEMBLE_H
#define LSL_ASSEMBLE_H

#include "lbinding.h"

typedef struct lasm {
    sl_assembler *a;
    sl_asm_mode mode;
    lreader *reader;   /* bound by asm:bind (kept alive as uservalue 1), or NULL */
    uint32_t *rows;    /* lkeep.c: rows below each span in a view's default state */
    size_t rows_cap;   /* (UINT32_MAX: not counted yet), for these settings: */
    size_t rows_min_run;
    int rows_groups_open;
} lasm;

/* The assembler at idx (methods only: the metatable is their upvalue 1). */
lasm *lsl_asm_check(lua_State *L, int idx);
/* A ref the assembler keeps, at idx (raises naming the argument). */
uint32_t lsl_asm_ref(lua_State *L, lasm *la, int idx);
/* Pushes the linked trees under roots: an array of root span tables. */
int lsl_push_trees(lua_State *L, sl_assembler *a, const uint32_t *roots, size_t nroots, unsigned mask);

/* lkeep.c: methods added to the assembler's (with the metatable as upvalue). */
extern const luaL_Reg lsl_keep_methods[];

#endif
