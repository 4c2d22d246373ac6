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

#endif
