/*
 * assemble_internal.h: what the assembler's files share (assemble.c: the
 * engine; assemble_out.c: handing out and accessors; assemble_store.c:
 * storage pieces): slots in one array addressed by a 32-bit ref, hash
 * tables of refs, per-span blobs of variable-length text, interned names,
 * the trace table, and the assembler itself.
 *
 * Key idea: a span is a fixed-size slot (about 140 bytes) whose links to
 * other spans are refs, not pointers, so the array can grow by realloc and
 * a hash table entry is 4 bytes; everything of variable length (name,
 * error, attrs, events, raw lines) goes into one malloc'd blob per span,
 * except names in KEEP mode, which repeat and are interned.
 */
#ifndef SL_ASSEMBLE_INTERNAL_H
#define SL_ASSEMBLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "reader_internal.h"
#include "spanline.h"

#define NONE SL_NO_SPAN

/* Internal slot flags, above the public SL_ASPAN_* bits. */
#define F_OWN_TRACE 0x80u   /* its trace came from its own records */
#define F_WAITING 0x100u    /* an orphan in the waiting list of its parent id */
#define F_HANDED 0x200u     /* STREAM: handed out (kept only as a ghost) */
#define F_QUEUED 0x400u     /* STREAM: in the ready queue */
#define F_FREE 0x800u       /* a free slot */
#define F_ROOT_LISTED 0x1000u /* KEEP: in the roots array */
#define F_HAS_ERROR 0x2000u /* a B_ERROR entry is in its blob */
#define F_CHANGED 0x4000u   /* KEEP with tracking: in the change list */
#define PUBLIC_FLAGS 0x7fu

enum { ST_OPEN = 0, ST_OK, ST_ERROR, ST_ABANDONED, ST_OTHER };

/* ===== BLOBS ===== */

/* Entries of kind (1 byte), length (4 bytes), payload. */
enum { B_NAME = 1, B_ERROR, B_STATUS, B_ATTRS, B_EVENT, B_RAW };

typedef struct blob {
    uint32_t len, cap;
    char data[];
} blob;

/* Room for one entry of kind with len payload bytes: the payload pointer,
 * or NULL when out of memory (the blob is unchanged). */
char *sl_blob_entry(blob **bp, int kind, size_t len);
/* The payload of the entry at offset off (from sl_blob_offset). */
const char *sl_blob_at(const blob *b, size_t off, size_t *len);
/* The offset the next entry will get. */
size_t sl_blob_offset(const blob *b);
/* The next entry of kind at or after *pos: 1 and its payload, or 0. */
int sl_blob_next(const blob *b, size_t *pos, int kind, const char **p, size_t *len);

/* ===== SLOTS ===== */

typedef struct kid {
    uint64_t start, finish;  /* finish UINT64_MAX: still open */
} kid;

typedef struct kidlist {
    uint32_t n, cap;
    kid k[];
} kidlist;

typedef struct slot {
    sl_id id;
    sl_id parent_id;
    uint64_t start, finish;
    int64_t self;
    uint64_t line;
    blob *blob;
    uint32_t trace;          /* trace table index (NONE before it has one) */
    uint32_t parent, first_child, next_sib, prev_sib;
    uint32_t wait_next;      /* next orphan waiting for the same parent; free list link */
    uint32_t depth;
    uint32_t name;           /* KEEP: interned id; else the B_NAME entry's offset in blob */
    uint32_t nchildren;
    int32_t lane;
    uint16_t flags;
    uint8_t status;
    uint32_t nevents;
    union {
        struct {             /* STREAM */
            kidlist *kids;   /* children's intervals, kept for self time after they go */
            uint32_t slot_in_parent;
            uint32_t pending; /* linked children not handed out yet */
        } s;
        struct {             /* TRACES: the trace's members, a circular list */
            uint32_t next, prev;
        } t;
    } m;
} slot;

/* ===== TRACES ===== */

typedef struct trace_ent {
    sl_id id;
    uint64_t start, finish;
    uint32_t nspans, nopen, nunfinished, nwaiting, nerrors, nabandoned;
    uint32_t head;           /* TRACES: a member, or NONE */
    uint32_t next_free;
    uint8_t queued, live;
} trace_ent;

/* ===== HASH TABLES OF REFS ===== */

/* What a table is keyed by: a slot's id, the id's last 8 bytes (W3C
 * span-id), a slot's parent id (orphans waiting for it), a trace's id. */
enum key_kind { KEY_ID, KEY_TAIL, KEY_PARENT, KEY_TRACE };

typedef struct reftab {
    uint32_t *cells;         /* refs; NONE = empty */
    uint32_t mask, count;
    enum key_kind kind;
} reftab;

/* Where keys are read from. */
typedef struct keysrc {
    const slot *slots;
    const trace_ent *traces;
} keysrc;

int sl_reftab_init(reftab *t, enum key_kind kind);
void sl_reftab_free(reftab *t);
uint32_t sl_reftab_find(const reftab *t, const keysrc *src, const sl_id *key);
/* Puts ref (replacing the ref with an equal key). SL_OK or SL_ENOMEM. */
int sl_reftab_put(reftab *t, const keysrc *src, uint32_t ref);
/* One lookup for a find that may become a put: sl_reftab_reserve (room
 * for one more), then sl_reftab_cell (where key's ref is, or the empty
 * cell it would go in; valid until the table changes), then, to put,
 * sl_reftab_fill with a ref whose key is that key. */
int sl_reftab_reserve(reftab *t, const keysrc *src);
uint32_t *sl_reftab_cell(reftab *t, const keysrc *src, const sl_id *key);
void sl_reftab_fill(reftab *t, uint32_t *cell, uint32_t ref);
/* Replaces the ref stored for key with ref (same key), if any. */
void sl_reftab_replace(reftab *t, const keysrc *src, uint32_t old_ref, uint32_t ref);
/* Removes ref's key if it maps to ref itself. */
void sl_reftab_remove(reftab *t, const keysrc *src, uint32_t ref);

/* ===== INTERNED STRINGS ===== */

typedef struct strtab {
    char *arena;
    size_t len, cap;
    struct { uint32_t off, len; } *ents;
    uint32_t n, ecap;
    uint32_t *cells;
    uint32_t mask;
} strtab;

/* The id of s (added when new), or NONE when out of memory. */
uint32_t sl_strtab_intern(strtab *t, const char *s, size_t len);
const char *sl_strtab_get(const strtab *t, uint32_t id, size_t *len);
void sl_strtab_free(strtab *t);

/* ===== THE ASSEMBLER ===== */

#define NO_END UINT64_MAX

typedef struct sortkey {
    uint64_t start;
    sl_id id;
    uint32_t ref;
} sortkey;

struct sl_assembler {
    sl_assembler_opts opts;
    slot *slots;
    uint32_t nslots, cap, free_head;
    trace_ent *traces;
    uint32_t ntraces, tcap, tfree_head;
    reftab by_id, by_tail, waiting, trace_ids;
    int tails_on;            /* by_tail is kept (after the first W3C parent) */
    strtab names;            /* KEEP: interned span names */
    uint32_t *queue;         /* ready spans (STREAM) or traces (TRACES), FIFO */
    size_t qhead, qlen, qcap;
    uint32_t handed;         /* STREAM: the span handed out last */
    uint32_t handed_trace;   /* TRACES: the trace handed out last */
    uint32_t *roots;         /* KEEP: roots in arrival order (lazily compacted) */
    size_t nroots, rcap;
    int roots_dirty;
    uint32_t *stack;         /* scratch for walks */
    size_t stack_cap;
    sortkey *keys;           /* scratch for sorting */
    size_t keys_cap;
    kid *ivals;              /* scratch for self time */
    size_t ivals_cap;
    uint32_t *troots;        /* the roots of the trace handed out */
    size_t troots_cap;
    uint32_t last;
    uint32_t last_trace;     /* the trace found last (a cache) */
    int track;               /* KEEP: keep the change list */
    uint32_t *changes;       /* spans touched since the last sl_assembler_changes */
    size_t nchanges, changes_cap;
    uint32_t *by_start;      /* started spans by start (sl_assembler_by_start) */
    size_t nby_start, by_start_cap;
    uint32_t by_start_seen;  /* slots looked at so far */
    uint32_t *unstarted;     /* slots looked at before their start came */
    size_t nunstarted, unstarted_cap;
    uint32_t *found;         /* sl_assembler_search's result */
    size_t found_cap;
    uint8_t *name_match;     /* per interned name: 0 unknown, 1 no, 2 yes */
    size_t name_match_cap;
    int finished;
    sl_asm_stats st;
    blob *blob_pool[64];     /* blobs of forgotten spans, kept for reuse */
    kidlist *kid_pool[64];
    int nblob_pool, nkid_pool;
    sl_buf enc;             /* re-encoding records as spanline/1 */
    sl_buf meta;
    int have_meta;
    int64_t cur_pid;         /* pid of the last meta record */
    int have_cur_pid;
    int64_t *pids;           /* distinct pids seen (sl_assembler_pids) */
    size_t npids, pids_cap;
    int more_pids;
};

/* Shared by assemble.c and assemble_out.c. */
keysrc sl_asm_src(const sl_assembler *a);
int sl_asm_grow(void **p, size_t *cap, size_t need, size_t size);
int sl_asm_push_stack(sl_assembler *a, size_t *n, uint32_t r);
int sl_asm_push_queue(sl_assembler *a, uint32_t x);
/* Forgets a span: out of every table and list, its children detached. */
void sl_asm_release(sl_assembler *a, uint32_t r);
void sl_asm_trace_retire(sl_assembler *a, uint32_t t, int free_it);
void sl_asm_trace_release(sl_assembler *a, uint32_t t);
int sl_asm_trace_complete(const sl_assembler *a, uint32_t t);
void sl_asm_wait_remove(sl_assembler *a, uint32_t r);

/* assemble_trace.c */
/* The live trace with this id (added when new), or NONE: out of memory. */
uint32_t sl_asm_trace_find(sl_assembler *a, const sl_id *id);
/* Adds (sign 1) or takes away (sign -1) a span's share of its trace's
 * counts; around a change of the span's state, take then add. */
void sl_asm_trace_count(sl_assembler *a, uint32_t r, int sign);
/* Moves a span (membership and counts) to trace t (NONE: out of any). */
void sl_asm_set_trace(sl_assembler *a, uint32_t r, uint32_t t);
int sl_asm_set_trace_id(sl_assembler *a, uint32_t r, const sl_id *id);
/* TRACES: queues a trace that looks complete (checked again when taken). */
void sl_asm_maybe_queue(sl_assembler *a, uint32_t t);

#endif
