/*
 * reader_internal.h: what the reader's files share (reader.c: input, lines,
 * follow mode; reader_jsonl.c: JSON lines; reader_jslogger.c: js-logger's
 * dialect of them; reader_msgpack.c: msgpack records) and with the
 * assembler (assemble*.c) and the JSONL encoder (jsonl.c).
 *
 * Key idea: every decoder writes strings either as pointers into the input
 * buffer (no escapes) or into one scratch buffer sized before parsing, so a
 * record costs no allocation.
 */
#ifndef SL_READER_INTERNAL_H
#define SL_READER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "spanline.h"
#include "text.h"

/* Record origin, for writers that want to pass the raw bytes through. */
enum { SL_ORIGIN_SPANLINE_JSONL = 0, SL_ORIGIN_JSLOGGER = 1, SL_ORIGIN_MSGPACK = 2 };

/* Origin of the record last returned by sl_reader_next. */
int sl_reader_origin(const sl_reader *r);

/* SL_OK when a decoded record has what its type needs (a name to start or
 * name an event, a status to end), else SL_EPARSE. */
static inline int sl_record_check(const sl_record *r)
{
    if ((r->type == SL_REC_START || r->type == SL_REC_EVENT) && !r->name) return SL_EPARSE;
    if (r->type == SL_REC_END && !r->status) return SL_EPARSE;
    return SL_OK;
}

/* ===== JSON LINES (reader_jsonl.c) ===== */

/* Parses one JSON line (no '\n'). scratch must have room for len bytes.
 * Returns SL_OK or SL_EPARSE; *origin tells a spanline line from js-logger. */
int sl_jsonl_parse_line(const char *line, size_t len, char *scratch, sl_record *out, int *origin);

/* The members of a JSON line that are interpreted after the whole line is
 * read (which dialect it is decides how): type and ids, as written. */
typedef struct sl_jsonl_keys {
    const char *type, *id, *trace, *parent, *start_id;
    size_t type_len, id_len, trace_len, parent_len, start_id_len;
    int have_ts;
} sl_jsonl_keys;

/* A record type by its name in design.md §3 ("start", ...): SL_REC_*, or -1. */
int sl_record_type_named(const char *s, size_t n);

/* ===== JS-LOGGER (reader_jslogger.c) ===== */

/* A js-logger line: its type is "stop", or its id is a js-logger id. */
int sl_jslogger_line(const sl_jsonl_keys *k);
/* Fills out's type, ids and defaults from a js-logger line's members. */
int sl_jslogger_record(const sl_jsonl_keys *k, sl_record *out);

/* ===== MESSAGEPACK (reader_msgpack.c) ===== */

/* Decodes one msgpack record object (a msgpack_object*) into out; attrs are
 * converted to JSON text in scratch. */
int sl_msgpack_record(const void *obj, sl_buf *scratch, sl_record *out);

/* ===== RE-ENCODING (jsonl.c) ===== */

/* Encodes a record as one spanline/1 JSONL line (with '\n') into b:
 * SL_OK, SL_ENOMEM or SL_EINVAL (no such record type). */
int sl_record_to_jsonl(const sl_record *rec, sl_buf *b);

#endif
