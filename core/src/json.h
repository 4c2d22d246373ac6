/*
 * json.h: the one JSON value writer: strings, integers, doubles and ids,
 * used by the JSONL encoder (ring records and re-encoded reader records)
 * and by the MessagePack reader when it turns attributes into JSON text.
 *
 * Key idea: correct JSON for every input. Strings are checked as UTF-8
 * while they are escaped (invalid bytes become U+FFFD, never raw bytes in
 * the output); a double is written in the shortest of %.15g / %.17g that
 * reads back to the same double, so 0.1 is "0.1" whoever wrote it; the
 * values JSON lacks (NaN, infinities) are written as strings. These are
 * cursor writers (the caller has reserved the bound, text.h) and inline:
 * the encoder calls them several times per record (json.c holds the tables
 * and the double formatter).
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include "text.h"

/* An escaped, quoted string of n bytes, with the cut mark. */
#define SL_JSON_STR_BOUND(n) (6 * (size_t)(n) + 8)
/* Any number, literal or quoted id. */
#define SL_JSON_SCALAR_BOUND 48

extern const unsigned char sl_json_plain[256];   /* 1: a byte written as it is */
extern const char sl_json_digit_pairs[201];      /* "00".."99" */

/* The shortest of %.15g / %.17g that reads back exactly; NaN and the
 * infinities, which JSON lacks, as the strings "NaN", "Infinity" and
 * "-Infinity". */
char *sl_json_double(char *o, double d);

/* ===== STRINGS ===== */

static inline char *sl_json_escape(char *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (sl_json_plain[c]) {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            o = sl_utf8_copy_seq(o, &p, end);
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\t': *o++ = 't'; break;
        case '\r': *o++ = 'r'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            o = SL_PUT_LIT(o, "u00");
            o = sl_hex_put(o, (const uint8_t *)p, 1);
        }
        p++;
    }
    return o;
}

/* s as a JSON string; cut: it was truncated, marked with U+2026 at the end. */
static inline char *sl_json_str(char *o, const char *s, size_t n, int cut)
{
    *o++ = '"';
    o = sl_json_escape(o, s, n);
    if (cut) o = SL_PUT_LIT(o, "\xE2\x80\xA6");   /* U+2026: cut here */
    *o++ = '"';
    return o;
}

/* ===== INTEGERS ===== */

/* exactly 8 digits of v < 10^8, two per step, in 32-bit arithmetic */
static inline char *sl_json_u32_8(char *o, uint32_t v)
{
    for (int i = 6; i >= 0; i -= 2) {
        memcpy(o + i, sl_json_digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    return o + 8;
}

static inline char *sl_json_u32(char *o, uint32_t v)
{
    int n = 1;
    for (uint32_t x = v; x >= 10; x /= 10) n++;
    char *e = o + n;
    while (v >= 100) {
        e -= 2;
        memcpy(e, sl_json_digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) memcpy(e - 2, sl_json_digit_pairs + 2 * v, 2);
    else e[-1] = (char)('0' + v);
    return o + n;
}

/* a 19-digit timestamp as 3 + 8 + 8 digits, each part in 32 bits */
static inline char *sl_json_u64(char *o, uint64_t v)
{
    if (v < 100000000u) return sl_json_u32(o, (uint32_t)v);
    if (v < 10000000000000000ull) {
        o = sl_json_u32(o, (uint32_t)(v / 100000000u));
        return sl_json_u32_8(o, (uint32_t)(v % 100000000u));
    }
    uint64_t hi = v / 100000000u;
    o = sl_json_u32(o, (uint32_t)(hi / 100000000u));
    o = sl_json_u32_8(o, (uint32_t)(hi % 100000000u));
    return sl_json_u32_8(o, (uint32_t)(v % 100000000u));
}

static inline char *sl_json_i64(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return sl_json_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return sl_json_u64(o, (uint64_t)v);
}

/* ===== IDS ===== */

/* An id as a quoted hex string: 32 digits, or its last 16 (a W3C span-id). */
static inline char *sl_json_id(char *o, const sl_id *id, int tail_only)
{
    *o++ = '"';
    o = tail_only ? sl_hex_put(o, id->bytes + 8, 8) : sl_hex_put(o, id->bytes, 16);
    *o++ = '"';
    return o;
}

#endif
