/*
 * lassemble.h: the assembler userdata, shared by lassemble.c (core.assembler
 * and its streaming methods), lkeep.c (reading a KEEP store by ref) and
 * lview.c (what the viewer asks about many spans at once).
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
    int started_only;  /* stream: next() skips spans without a start record */
} lasm;

/* The assembler at idx (methods only: the metatable is their upvalue 1). */
lasm *lsl_asm_check(lua_State *L, int idx);
/* A ref the assembler keeps, at idx (raises naming the argument). */
uint32_t lsl_asm_ref(lua_State *L, lasm *la, int idx);
/* Pushes the linked trees under roots: an array of root span tables. */
int lsl_push_trees(lua_State *L, sl_assembler *a, const uint32_t *roots, size_t nroots, unsigned mask);

/* Pushes an array of refs. */
void lsl_push_refs(lua_State *L, const uint32_t *refs, size_t n);

/* Methods added to the assembler's (the metatable as upvalue): lkeep.c
 * (reading a kept store), lview.c (what a view asks about many spans). */
extern const luaL_Reg lsl_keep_methods[];
extern const luaL_Reg lsl_view_methods[];

#endif
