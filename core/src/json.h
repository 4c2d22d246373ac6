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
char *sl_json_double(char *o, double d);   /* (declared in spanline.h too) */

/* ===== STRINGS ===== */

/* Whether none of the low k (1..8) bytes of x needs escaping or checking
 * (control, '"', '\\', non-ASCII). The zero-byte tests can only misfire in
 * a byte above one that matches (a borrow runs upwards), so the answer is
 * exact, and the bytes above the low k cannot disturb it. */
static inline int sl_json_plain_low(uint64_t x, size_t k)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t hit = ((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x;
    return ((hit | x) & (highs >> (64 - 8 * k))) == 0;
}

static inline int sl_json_plain8(uint64_t x)
{
    return sl_json_plain_low(x, 8);
}

static inline int sl_json_plain4(uint32_t x)
{
    const uint32_t ones = 0x01010101u, highs = 0x80808080u;
    uint32_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint32_t hit = ((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x;
    return ((hit | x) & highs) == 0;
}

/* Copies the plain ASCII prefix of s (8, then 4 bytes a step, then bytes:
 * most names, keys and values are all of it) to o; returns its length. */
static inline size_t sl_json_plain_prefix(char *o, const char *s, size_t n)
{
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (!sl_json_plain8(x)) break;
        memcpy(o + i, &x, 8);
    }
    if (n - i >= 4) {
        uint32_t x;
        memcpy(&x, s + i, 4);
        if (sl_json_plain4(x)) {
            memcpy(o + i, &x, 4);
            i += 4;
        }
    }
    for (; i < n && sl_json_plain[(unsigned char)s[i]]; i++) o[i] = s[i];
    return i;
}

/* The rest of sl_json_escape, from the first byte that is not plain ASCII
 * (json.c). */
char *sl_json_escape_rest(char *o, const char *s, size_t n);

/* s escaped (no quotes). Inline up to the first byte that needs work: most
 * strings are plain ASCII all through, and a call costs more than they do. */
static inline char *sl_json_escape(char *o, const char *s, size_t n)
{
    size_t plain = sl_json_plain_prefix(o, s, n);
    if (__builtin_expect(plain == n, 1)) return o + n;
    return sl_json_escape_rest(o + plain, s + plain, n - plain);
}

/* sl_json_escape for a string whose 8 bytes before its end may be read
 * (s + n - 8 and on: every string in a ring record follows a header of at
 * least 8 bytes). Its last 1..8 bytes are one load ending at its end,
 * shifted down, tested and stored as a word: a short name, key or value is
 * one step, with no loop over bytes. Stores 8 bytes at o (every bound
 * leaves room for them). */
static inline char *sl_json_escape_tail8(char *o, const char *s, size_t n)
{
    size_t i = 0;
    uint64_t x;
    for (; n - i > 8; i += 8) {
        memcpy(&x, s + i, 8);
        if (!sl_json_plain8(x)) return sl_json_escape_rest(o + i, s + i, n - i);
        memcpy(o + i, &x, 8);
    }
    if (n == 0) return o;
    size_t k = n - i;   /* 1..8 */
    memcpy(&x, s + n - 8, 8);
    x >>= 8 * (8 - k);
    if (!sl_json_plain_low(x, k)) return sl_json_escape_rest(o + i, s + i, k);
    memcpy(o + i, &x, 8);
    return o + n;
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

/* sl_json_str for a string of a record in the ring layout (internal.h),
 * which has a header of at least 8 bytes before it: sl_json_escape_tail8. */
static inline char *sl_json_str_rec(char *o, const char *s, size_t n, int cut)
{
    *o++ = '"';
    o = sl_json_escape_tail8(o, s, n);
    if (cut) o = SL_PUT_LIT(o, "\xE2\x80\xA6");
    *o++ = '"';
    return o;
}

/* ===== INTEGERS ===== */

/* The 8 decimal digits of v < 10^8 as 8 ASCII bytes in memory order, in
 * parallel lanes of one 64-bit word (4 + 4 digits, then 2 + 2, then 1 + 1):
 * no division loop, no table. */
static inline uint64_t sl_json_digits8(uint32_t v)
{
    uint64_t y = (uint64_t)(v / 10000) | ((uint64_t)(v % 10000) << 32);
    uint64_t z = ((y * 10486) >> 20) & 0x0000007F0000007Full;   /* lane / 100 */
    y = z | ((y - z * 100) << 16);
    z = ((y * 103) >> 10) & 0x000F000F000F000Full;             /* lane / 10 */
    y = z | ((y - z * 10) << 8);
    return y + 0x3030303030303030ull;
}

/* exactly 8 digits of v < 10^8 */
static inline char *sl_json_u32_8(char *o, uint32_t v)
{
    uint64_t d = sl_json_digits8(v);
    memcpy(o, &d, 8);
    return o + 8;
}

/* v < 10^8 in decimal: its 8 digits with the leading zeros shifted out (8
 * bytes are stored: every bound leaves room for them). */
static inline char *sl_json_uint8d(char *o, uint32_t v)
{
    if (v < 10) {
        *o = (char)('0' + v);
        return o + 1;
    }
    /* the leading zero digits are the low zero bytes of the digit values */
    uint64_t d = sl_json_digits8(v);
    int zeros = __builtin_ctzll(d - 0x3030303030303030ull) >> 3;
    d >>= 8 * zeros;
    memcpy(o, &d, 8);
    return o + 8 - zeros;
}

/* v >= 10^8 in decimal (json.c): a 19-digit timestamp as 3 + 8 + 8 digits,
 * the two groups of 8 converted side by side, or 9 to 16 digits as two
 * groups, or the rest as three. */
char *sl_json_u64_wide(char *o, uint64_t v);

/* v in decimal. Inline up to 8 digits (attribute values, lanes, counts);
 * longer numbers take a call. */
static inline char *sl_json_u64(char *o, uint64_t v)
{
    if (v < 100000000u) return sl_json_uint8d(o, (uint32_t)v);
    return sl_json_u64_wide(o, v);
}

/* The first 11 of a timestamp's 19 digits change every 0.1 s: a writer
 * that encodes many timestamps keeps them with the value they stand for.
 * A zeroed cache is an empty one (no v / 10^8 is ~0). */
typedef struct sl_json_ts_cache {
    uint64_t not_hi;    /* ~(v / 10^8) of the digits below */
    char digits[24];    /* its digits: the first 11 are used, 16 copied as one block */
} sl_json_ts_cache;

/* sl_json_ts when the cache does not hold v's leading digits (json.c):
 * refills it for a 19-digit v. */
char *sl_json_ts_miss(char *o, uint64_t v, sl_json_ts_cache *c);

/* sl_json_u64 for a timestamp, through the cache (NULL: none). A hit is a
 * multiply to find the leading digits, a 16-byte copy of them and the last
 * 8 digits converted; only a cached value can hit, so a hit needs no range
 * test. */
static inline char *sl_json_ts(char *o, uint64_t v, sl_json_ts_cache *c)
{
    if (!c) return sl_json_u64(o, v);
    uint64_t hi = v / 100000000u;
    if (__builtin_expect(~hi != c->not_hi, 0)) return sl_json_ts_miss(o, v, c);
    memcpy(o, c->digits, 16);
    return sl_json_u32_8(o + 11, (uint32_t)(v - hi * 100000000u));
}

/* Inline up to 8 digits either side of 0 (the common attribute values):
 * the sign is a store the cursor steps over or not. */
static inline char *sl_json_i64(char *o, int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    *o = '-';
    o += v < 0;
    return sl_json_u64(o, u);
}

/* ===== READING NUMBERS ===== */

/* Whether ch can be part of a JSON number's text (not strchr over a set: it
 * finds its own terminator for a NUL byte of the input). */
static inline int sl_json_number_char(char ch)
{
    return (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.' || ch == 'e' || ch == 'E';
}

/* ===== READING STRINGS =====
 * sl_json_unescape (spanline.h, json.c): the one JSON string decoder. */

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
