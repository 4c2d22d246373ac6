/*
 * reader_jsonl.c: one JSON line -> sl_record, in a single pass.
 *
 * Key idea: one scanner for every layout, as quick on another producer's
 * spaced lines (`{"type": "start", ...}`) as on the encoder's compact ones:
 * at each step it looks for the byte a compact line has there (':' after a
 * key, '"' after ',') and skips whitespace only when that is not it; a key
 * is told from the word of its first eight bytes (the closing quote found
 * in the word, then one compare per key of that length); strings, numbers
 * and ids go eight bytes at a time (swar.h). Only the keys a record can
 * have are looked at: strings without escapes are returned as pointers into
 * the line, escaped ones are decoded into a scratch area at least as long as
 * the line (decoding never grows a string), and `attrs` is kept as its raw
 * JSON object text. Types and ids are interpreted last, by the dialect the
 * line turns out to be (spanline here, js-logger in reader_jslogger.c).
 */
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "json.h"
#include "reader_internal.h"
#include "swar.h"

/* ===== SCANNING =====
 * Each scanner takes the position p and the line's end e, and returns the
 * position after what it read, or NULL when the line is not what it wants. */

static inline int is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static inline const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p)) p++;
    return p;
}

/* p moved past any whitespace. A compact line has none: one compare says
 * so. */
static inline const char *ws(const char *p, const char *e)
{
    return p < e && (unsigned char)*p > ' ' ? p : skip_ws(p, e);
}

/* The first '"' or '\\' in [p, e), or e: sixteen bytes per step with SSE2,
 * else eight in a word. */
static inline const char *scan_string(const char *p, const char *e)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (e - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
        if (m) return p + __builtin_ctz(m);
        p += 16;
    }
#endif
#if SL_SWAR
    while (e - p >= 8) {
        uint64_t w = sl_swar_load(p);
        uint64_t t = sl_swar_eq(w, '"') | sl_swar_eq(w, '\\');
        if (t) return p + sl_swar_first(t);
        p += 8;
    }
#endif
    while (p < e && *p != '"' && *p != '\\') p++;
    return p;
}

/* The string whose content starts at s has its first escape at p: decodes
 * it into *scratch (the decoded form is never longer). */
static const char *decode_string(const char *s, const char *p, const char *e, char **scratch,
                                 const char **out, size_t *out_len)
{
    char *start = *scratch, *d = start + (p - s);
    memcpy(start, s, (size_t)(p - s));
    const char *next = sl_json_unescape(p, e, d, &d);
    if (!next) return NULL;
    *out = start;
    *out_len = (size_t)(d - start);
    *scratch = d;
    return next;
}

/* At the opening quote. Escape-free strings point into the line. */
static inline const char *read_string(const char *p, const char *e, char **scratch,
                                      const char **out, size_t *out_len)
{
    const char *s = p + 1, *q = scan_string(s, e);
    if (q >= e) return NULL;
    if (*q == '\\') return decode_string(s, q, e, scratch, out, out_len);
    *out = s;
    *out_len = (size_t)(q - s);
    return q + 1;
}

static inline const char *skip_string(const char *p, const char *e)
{
    p++;
    for (;;) {
        p = scan_string(p, e);
        if (p >= e) return NULL;
        if (*p == '"') return p + 1;
        p += 2;  /* an escape: skip the escaped byte */
    }
}

/* The bytes skipping a container stops at: strings and brackets. */
static const unsigned char STRUCTURAL[256] = {
    ['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1,
};

/* Skips any JSON value; nested containers are matched by depth. */
static const char *skip_value(const char *p, const char *e)
{
    if (p >= e) return NULL;
    char ch = *p;
    if (ch == '"') return skip_string(p, e);
    if (ch == '{' || ch == '[') {
        int depth = 0;
        while (p < e) {
            ch = *p;
            if (ch == '"') {
                if (!(p = skip_string(p, e))) return NULL;
            } else {
                if (ch == '{' || ch == '[') {
                    depth++;
                } else if (ch == '}' || ch == ']') {
                    if (--depth == 0) return p + 1;
                }
                p++;
            }
            while (p < e && !STRUCTURAL[(unsigned char)*p]) p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e) {
        ch = *p;
        if (ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\t' || ch == '\r') break;
        p++;
    }
    return p > s ? p : NULL;
}

#if defined(__SSE2__)
/* Sixteen digit values (bytes 0..9, the first most significant) as one
 * number: pairs in 16-bit lanes, then quads and eights by multiply-add. */
static inline uint64_t sixteen_digits(__m128i d)
{
    __m128i pairs = _mm_add_epi16(_mm_mullo_epi16(_mm_and_si128(d, _mm_set1_epi16(0xff)), _mm_set1_epi16(10)),
                                  _mm_srli_epi16(d, 8));
    __m128i quads = _mm_madd_epi16(pairs, _mm_set1_epi32(100 | 1 << 16));
    quads = _mm_packs_epi32(quads, quads);
    __m128i eights = _mm_madd_epi16(quads, _mm_set1_epi32(10000 | 1 << 16));
    uint64_t hi = (uint32_t)_mm_cvtsi128_si32(eights), lo = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(eights, 4));
    return hi * 100000000u + lo;
}
#endif

/* The decimal digits at p as an integer modulo 2^64; *end after them.
 * Sixteen at once (a timestamp's first sixteen) with SSE2; then a word of
 * eight costs three multiplies, and a shorter run is shifted to the word's
 * top, so the bytes below it read as leading zeros. */
static inline uint64_t read_digits(const char *p, const char *e, const char **end)
{
    uint64_t v = 0;
#if defined(__SSE2__)
    if (e - p >= 16) {
        __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8('0'));
        __m128i bad = _mm_or_si128(_mm_cmpgt_epi8(d, _mm_set1_epi8(9)), _mm_cmplt_epi8(d, _mm_setzero_si128()));
        if (!_mm_movemask_epi8(bad)) {
            v = sixteen_digits(d);
            p += 16;
        }
    }
#endif
#if SL_SWAR
    static const uint64_t POW10[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    while (e - p >= 8) {
        uint64_t w = sl_swar_load(p), nd = sl_swar_nondigits(w);
        if (!nd) {
            v = v * 100000000u + sl_swar_eight_digits(w);
            p += 8;
            continue;
        }
        unsigned n = sl_swar_first(nd);
        if (n) v = v * POW10[n] + sl_swar_eight_digits(w << (8 * (8 - n)));
        *end = p + n;
        return v;
    }
#endif
    while (p < e && (unsigned)(*p - '0') < 10) v = v * 10 + (uint64_t)(*p++ - '0');
    *end = p;
    return v;
}

/* The number at s (its digits read up to p) has a fraction or exponent:
 * its value as a double, truncated; NULL when it is negative or too big. */
static const char *read_fraction(const char *s, const char *e, int neg, uint64_t *v)
{
    char tmp[64];
    size_t n = 0;
    const char *q = s;
    while (q < e && n < sizeof tmp - 1 && sl_json_number_char(*q)) tmp[n++] = *q++;
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    if (neg) d = -d;
    if (!(d >= 0 && d < 1.8e19)) return NULL;
    *v = (uint64_t)d;
    return q;
}

/* An integer (a fraction or exponent is accepted and truncated, for
 * streams that went through a double-only JSON encoder); with
 * unsigned_only, a negative one is refused. */
static inline const char *read_int(const char *p, const char *e, int64_t *out, int unsigned_only)
{
    const char *s = p;
    int neg = 0;
    if (*p == '-') {
        if (unsigned_only) return NULL;
        neg = 1;
        p++;
    }
    if (p >= e || (unsigned)(*p - '0') >= 10) return NULL;
    uint64_t v = read_digits(p, e, &p);
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E') && !(p = read_fraction(s, e, neg, &v))) return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return p;
}

static inline int is_null(const char *p, const char *e)
{
    return e - p >= 4 && !memcmp(p, "null", 4);
}

/* ===== KEYS ===== */

/* The members a record reads; any other key's value is skipped. */
enum field {
    F_OTHER, F_ID, F_TS, F_PID, F_TYPE, F_NAME, F_LANE, F_HOST, F_TRACE, F_ERROR, F_ATTRS,
    F_PARENT, F_STATUS, F_FORMAT, F_SERVICE, F_START_ID, F_DROPPED
};

/* A key as a word: byte i is key[i], zero past its end (every key a record
 * has is at most 8 bytes long). */
static inline uint64_t key_word(const char *s, size_t n)
{
    uint64_t w = 0;
    memcpy(&w, s, n);
    return w;
}

/* The same for a key written out, as an integer constant expression. */
#define KW(a, b, c, d, e, f, g, h)                                                       \
    ((uint64_t)(a) | (uint64_t)(b) << 8 | (uint64_t)(c) << 16 | (uint64_t)(d) << 24 |  \
     (uint64_t)(e) << 32 | (uint64_t)(f) << 40 | (uint64_t)(g) << 48 | (uint64_t)(h) << 56)

/* The known keys in a table of 32 by a multiplicative hash of their word,
 * whose multiplier was picked so that no two of them share a cell (a
 * collision would be a duplicate initializer, which -Wextra reports, and
 * test_jsonl_layouts reads every key); empty cells hold length 0, which no
 * key has. One multiply, one load, two compares per key. */
#define KEY_CELL(w) ((unsigned)(((uint64_t)(w) * 0x23a5ef88ef02090bull) >> 59))
#define K(w, len, f) [KEY_CELL(w)] = { (w), (len), (f) }
static const struct { uint64_t word; uint8_t len, field; } KEYS[32] = {
    K(KW('i', 'd', 0, 0, 0, 0, 0, 0), 2, F_ID),
    K(KW('t', 's', 0, 0, 0, 0, 0, 0), 2, F_TS),
    K(KW('p', 'i', 'd', 0, 0, 0, 0, 0), 3, F_PID),
    K(KW('t', 'y', 'p', 'e', 0, 0, 0, 0), 4, F_TYPE),
    K(KW('n', 'a', 'm', 'e', 0, 0, 0, 0), 4, F_NAME),
    K(KW('l', 'a', 'n', 'e', 0, 0, 0, 0), 4, F_LANE),
    K(KW('h', 'o', 's', 't', 0, 0, 0, 0), 4, F_HOST),
    K(KW('t', 'r', 'a', 'c', 'e', 0, 0, 0), 5, F_TRACE),
    K(KW('e', 'r', 'r', 'o', 'r', 0, 0, 0), 5, F_ERROR),
    K(KW('a', 't', 't', 'r', 's', 0, 0, 0), 5, F_ATTRS),
    K(KW('p', 'a', 'r', 'e', 'n', 't', 0, 0), 6, F_PARENT),
    K(KW('s', 't', 'a', 't', 'u', 's', 0, 0), 6, F_STATUS),
    K(KW('f', 'o', 'r', 'm', 'a', 't', 0, 0), 6, F_FORMAT),
    K(KW('s', 'e', 'r', 'v', 'i', 'c', 'e', 0), 7, F_SERVICE),
    K(KW('s', 't', 'a', 'r', 't', 'I', 'd', 0), 7, F_START_ID),
    K(KW('d', 'r', 'o', 'p', 'p', 'e', 'd', 0), 7, F_DROPPED),
    K(KW('p', 'a', 'r', 'e', 'n', 't', 'I', 'd'), 8, F_PARENT),   /* js-logger */
};
#undef K

/* The field the key of n bytes with word w names (the length tells "ts"
 * from "ts\0"). */
static inline enum field field_of(uint64_t w, size_t n)
{
    unsigned cell = KEY_CELL(w);
    return KEYS[cell].word == w && KEYS[cell].len == n ? (enum field)KEYS[cell].field : F_OTHER;
}

/* At a key's opening quote: the position after its closing quote, and in
 * *f which field it names. A key without escapes that ends within its
 * first nine bytes is read from one word; any other as a string. */
static inline const char *read_key(const char *p, const char *e, char **scratch, enum field *f)
{
    const char *ks = p + 1;
#if SL_SWAR
    if (e - ks >= 9) {
        uint64_t w = sl_swar_load(ks);
        uint64_t hits = sl_swar_eq(w, '"') | sl_swar_eq(w, '\\');
        if (hits) {
            unsigned n = sl_swar_first(hits);
            if (ks[n] == '"') {
                *f = n ? field_of(w & (~0ull >> (64 - 8 * n)), n) : F_OTHER;
                return ks + n + 1;
            }
        } else if (ks[8] == '"') {
            *f = field_of(w, 8);
            return ks + 9;
        }
    }
#endif
    const char *key;
    size_t n;
    p = read_string(p, e, scratch, &key, &n);
    *f = p && n <= 8 ? field_of(key_word(key, n), n) : F_OTHER;
    return p;
}

/* ===== ONE LINE ===== */

/* A string member's value: null leaves it as it was. Always inlined: since
 * the escapes went to json.c gcc calls it out of line (+12% for the reader). */
static inline __attribute__((always_inline)) const char *
string_or_null(const char *p, const char *e, char **scratch, const char **out, size_t *out_len)
{
    if (*p == '"') return read_string(p, e, scratch, out, out_len);
    return is_null(p, e) ? p + 4 : NULL;
}

/* `attrs`: an object, kept as its JSON text, or null. */
static const char *attrs_value(const char *p, const char *e, sl_record *out)
{
    if (*p != '{') return is_null(p, e) ? skip_value(p, e) : NULL;
    const char *end = skip_value(p, e);
    if (!end) return NULL;
    out->attrs_json = p;
    out->attrs_len = (size_t)(end - p);
    return end;
}

/* The value at p of field f, into its place. */
static inline const char *read_value(const char *p, const char *e, enum field f, char **scratch,
                                     sl_jsonl_keys *k, sl_record *out)
{
    switch (f) {
    case F_ID: return string_or_null(p, e, scratch, &k->id, &k->id_len);
    case F_TS: k->have_ts = 1; return read_int(p, e, (int64_t *)&out->ts, 1);
    case F_PID: return read_int(p, e, &out->pid, 0);
    case F_TYPE: return string_or_null(p, e, scratch, &k->type, &k->type_len);
    case F_NAME: return string_or_null(p, e, scratch, &out->name, &out->name_len);
    case F_LANE: return read_int(p, e, &out->lane, 0);
    case F_HOST: return string_or_null(p, e, scratch, &out->host, &out->host_len);
    case F_TRACE: return string_or_null(p, e, scratch, &k->trace, &k->trace_len);
    case F_ERROR: return string_or_null(p, e, scratch, &out->error, &out->error_len);
    case F_ATTRS: return attrs_value(p, e, out);
    case F_PARENT: return string_or_null(p, e, scratch, &k->parent, &k->parent_len);
    case F_STATUS: return string_or_null(p, e, scratch, &out->status, &out->status_len);
    case F_FORMAT: return string_or_null(p, e, scratch, &out->format, &out->format_len);
    case F_SERVICE: return string_or_null(p, e, scratch, &out->service, &out->service_len);
    case F_START_ID: return string_or_null(p, e, scratch, &k->start_id, &k->start_id_len);
    case F_DROPPED: return read_int(p, e, (int64_t *)&out->dropped, 1);
    case F_OTHER: break;
    }
    return skip_value(p, e);
}

/* After any whitespace, the byte ch: the position after it, or NULL. The
 * compact layout has it right there. */
static inline const char *expect(const char *p, const char *e, char ch)
{
    if (p < e && *p == ch) return p + 1;
    p = skip_ws(p, e);
    return p < e && *p == ch ? p + 1 : NULL;
}

/* The whole line as one non-empty object of `"key": value` members. */
static int read_object(const char *p, const char *e, char *scratch, sl_jsonl_keys *k, sl_record *out)
{
    if (!(p = expect(p, e, '{'))) return -1;
    p = ws(p, e);
    if (p < e && *p == '}') return -1;
    for (;;) {
        enum field f;
        if (p >= e || *p != '"' || !(p = read_key(p, e, &scratch, &f)) || !(p = expect(p, e, ':'))) return -1;
        p = ws(p, e);
        if (p >= e || !(p = read_value(p, e, f, &scratch, k, out))) return -1;
        if (p >= e || *p != ',') {   /* the last member, or whitespace first */
            p = skip_ws(p, e);
            if (p < e && *p == '}') break;
            if (p >= e || *p != ',') return -1;
        }
        p = ws(p + 1, e);
    }
    return skip_ws(p + 1, e) == e ? 0 : -1;
}

/* ===== SPANLINE RECORDS ===== */

int sl_record_type_named(const char *s, size_t n)
{
    switch (n) {
    case 3: if (!memcmp(s, "end", 3)) return SL_REC_END; break;
    case 4:
        if (!memcmp(s, "meta", 4)) return SL_REC_META;
        if (!memcmp(s, "attr", 4)) return SL_REC_ATTR;
        break;
    case 5:
        if (!memcmp(s, "start", 5)) return SL_REC_START;
        if (!memcmp(s, "event", 5)) return SL_REC_EVENT;
        break;
    }
    return -1;
}

/* Ids are hex (hex.c): 32 digits, or 16 for a parent in another process. */
static int spanline_record(const sl_jsonl_keys *k, sl_record *out)
{
    int type = k->type ? sl_record_type_named(k->type, k->type_len) : -1;
    if (type < 0) return SL_EPARSE;
    out->type = (sl_record_type)type;
    if (type == SL_REC_META) return SL_OK;
    if (!k->id || k->id_len != 32 || sl_id_from_hex(k->id, 32, &out->id) != SL_OK) return SL_EPARSE;
    if (k->trace) {
        if (k->trace_len != 32 || sl_id_from_hex(k->trace, 32, &out->trace) != SL_OK) return SL_EPARSE;
        out->has_trace = 1;
    }
    if (k->parent) {
        if (sl_id_from_hex(k->parent, k->parent_len, &out->parent) != SL_OK) return SL_EPARSE;
        out->has_parent = 1;
        out->parent_short = k->parent_len == 16;
    }
    return sl_record_check(out);
}

int sl_jsonl_parse_line(const char *line, size_t len, char *scratch, sl_record *out, int *origin)
{
    /* Zeroed by copying zeroed structs: a memset of this size compiles to
     * `rep stos`, whose start-up costs more than the whole copy. */
    static const sl_record empty_record;
    static const sl_jsonl_keys empty_keys;
    *out = empty_record;
    sl_jsonl_keys k = empty_keys;
    if (read_object(line, line + len, scratch, &k, out) != 0) return SL_EPARSE;
    if (sl_jslogger_line(&k)) {
        *origin = SL_ORIGIN_JSLOGGER;
        return sl_jslogger_record(&k, out);
    }
    *origin = SL_ORIGIN_SPANLINE_JSONL;
    return spanline_record(&k, out);
}
