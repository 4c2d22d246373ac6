/*
 * reader_internal.h: what the reader's files share (reader.c: input, lines,
 * follow mode; reader_jsonl.c: the JSON line parser and js-logger ids;
 * reader_msgpack.c: msgpack records) and the extras the Lua binding uses.
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

/* A growable byte buffer the decoders write into. */
typedef struct sl_rbuf {
    char *ptr;
    size_t len, cap;
} sl_rbuf;

int sl_rbuf_reserve(sl_rbuf *b, size_t extra);
void sl_rbuf_free(sl_rbuf *b);

/* Record origin, for writers that want to pass the raw bytes through. */
enum { SL_ORIGIN_SPANLINE_JSONL = 0, SL_ORIGIN_JSLOGGER = 1, SL_ORIGIN_MSGPACK = 2 };

/* Parses one JSON line (no '\n'). scratch must have room for len bytes.
 * Returns SL_OK or SL_EPARSE; *origin tells a spanline line from js-logger. */
int sl_jsonl_parse_line(const char *line, size_t len, char *scratch, sl_record *out, int *origin);

/* Decodes one msgpack record object (a msgpack_object*) into out; attrs are
 * converted to JSON text in scratch (pointers fixed after any growth). */
int sl_msgpack_record(const void *obj, sl_rbuf *scratch, sl_record *out);

/* Hex helpers (lowercase); from_hex accepts 32 or 16 digits like sl_id_from_hex. */
void sl_reader_hex(const uint8_t *bytes, size_t n, char *out);
int sl_reader_parse_hex_id(const char *s, size_t len, sl_id *out, int *is_short);
/* js-logger IdSortable in multibase base32hex ('v' + 26 chars). */
int sl_reader_parse_jslogger_id(const char *s, size_t len, sl_id *out);
/* Unix ns from an id's time field: UUIDv7 ms layout or js-logger s/4096. */
uint64_t sl_reader_jslogger_ts(const sl_id *id);

/* Origin of the record last returned by sl_reader_next. */
int sl_reader_origin(const sl_reader *r);

/* Encodes a record as one spanline/1 JSONL line (with '\n') into b. */
int sl_record_to_jsonl(const sl_record *rec, sl_rbuf *b);

/* Appends s as a JSON string literal (quotes included). */
int sl_json_put_string(sl_rbuf *b, const char *s, size_t len);

/* ===== SPANS IN C (reader_spans.c) ===== */

typedef struct sl_kid {
    uint64_t start, finish;   /* finish UINT64_MAX: still open */
} sl_kid;

/* A span assembled from its records. Strings live in text at offsets. */
typedef struct sl_aspan {
    sl_id id, trace, parent;
    uint8_t has_start, ended, has_trace, has_parent, parent_short, orphan, linked, has_error;
    uint64_t start, finish;
    int64_t lane;
    int64_t self;             /* -1: unknown (open) */
    uint64_t line;
    uint32_t depth, nevents;
    uint32_t name_off, name_len, status_off, status_len, error_off, error_len;
    sl_rbuf text;
    sl_rbuf attrs;            /* attrs JSON objects, one per line, in order */
    sl_rbuf raw;              /* the span's records as spanline/1 lines */
    sl_kid *kids;
    size_t nkids, kcap, slot_in_parent;
    struct sl_aspan *next_free;
} sl_aspan;

typedef struct sl_spanner sl_spanner;

/* Spans from a reader (not owned). keep_raw: collect each span's records. */
sl_spanner *sl_spanner_new(sl_reader *r, int keep_raw);
/* Collect attrs text (default on); off when nobody reads span attrs. */
void sl_spanner_keep_attrs(sl_spanner *s, int on);
/* SL_OK with *out valid until the next call, SL_EOF, SL_EAGAIN, SL_ENOMEM, SL_EIO. */
int sl_spanner_next(sl_spanner *s, const sl_aspan **out);
/* The first meta record as a spanline/1 line (no '\n'), or NULL. */
const char *sl_spanner_meta(const sl_spanner *s, size_t *len);
void sl_spanner_free(sl_spanner *s);

#endif
