/*
 * reencode_check.h: the property both reader harnesses check on every
 * record: re-encoded as a spanline/1 line (what `spanline filter` writes for
 * MessagePack and js-logger input), it is valid UTF-8 and reads back as the
 * same record. Aborts otherwise.
 *
 * Key idea: the reader's JSONL parser is the judge, so the re-encoder and
 * the parser are held to each other: a field one writes the other must read
 * back unchanged (names only when they were valid UTF-8: invalid bytes come
 * back as U+FFFD by design).
 */
#ifndef SL_REENCODE_CHECK_H
#define SL_REENCODE_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "reader_internal.h"

static int reencode_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t bad = 0, k = sl_utf8_seq(p, (size_t)(end - p), &bad);
        if (!k) return 0;
        p += k;
    }
    return 1;
}

static int reencode_same_text(const char *a, size_t an, const char *b, size_t bn)
{
    if (!a || !b) return !a == !b;
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check_reencode(const sl_record *rec)
{
    sl_buf line = {0};
    if (sl_record_to_jsonl(rec, &line) != SL_OK) abort();
    if (line.len < 2 || line.ptr[line.len - 1] != '\n') abort();
    size_t n = line.len - 1;
    if (memchr(line.ptr, '\n', n) || !reencode_valid_utf8(line.ptr, n)) abort();
    char *scratch = malloc(n);
    sl_record back;
    int origin;
    if (!scratch || sl_jsonl_parse_line(line.ptr, n, scratch, &back, &origin) != SL_OK) abort();
    if (back.type != rec->type || back.ts != rec->ts || origin != SL_ORIGIN_SPANLINE_JSONL) abort();
    if (rec->type == SL_REC_META) {
        if (back.pid != rec->pid) abort();
    } else {
        if (memcmp(&back.id, &rec->id, sizeof rec->id) != 0) abort();
        if (back.has_trace != rec->has_trace || back.has_parent != rec->has_parent) abort();
        if (rec->has_trace && memcmp(&back.trace, &rec->trace, sizeof rec->trace) != 0) abort();
        if (rec->has_parent && (back.parent_short != rec->parent_short ||
                                memcmp(&back.parent, &rec->parent, sizeof rec->parent) != 0))
            abort();
        if (rec->type == SL_REC_START && back.lane != rec->lane) abort();
        if (reencode_valid_utf8(rec->name, rec->name_len) &&
            !reencode_same_text(back.name, back.name_len, rec->name, rec->name_len))
            abort();
        if (!reencode_same_text(back.attrs_json, back.attrs_len, rec->attrs_json, rec->attrs_len) &&
            !(rec->attrs_json && !reencode_valid_utf8(rec->attrs_json, rec->attrs_len)))
            abort();
    }
    free(scratch);
    sl_buf_free(&line);
}

#endif
