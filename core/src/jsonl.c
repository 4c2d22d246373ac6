/*
 * jsonl.c: the JSONL encoder (spanline/1 records, design.md §3).
 *
 * Key idea: correct JSON for every input. Strings are checked as UTF-8 while
 * they are escaped: each maximal invalid subsequence (overlong forms,
 * surrogates, bytes past U+10FFFF, cut sequences) becomes one U+FFFD, so raw
 * invalid bytes never reach the output. Doubles use the shortest of %.15g /
 * %.17g that reads back exactly; NaN and the infinities, which JSON lacks,
 * are written as the strings "NaN", "Infinity" and "-Infinity".
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static const char hexd[] = "0123456789abcdef";

/* ===== UTF-8 ===== */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is
 * invalid; *bad is then the length of the maximal invalid subpart. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c < 0xC2) { *bad = 1; return 0; }
    if (c < 0xE0) need = 2;
    else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;        /* overlong */
        else if (c == 0xED) hi = 0x9F;   /* surrogates */
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;        /* overlong */
        else if (c == 0xF4) hi = 0x8F;   /* > U+10FFFF */
    } else { *bad = 1; return 0; }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) { *bad = i; return 0; }
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) { *bad = i; return 0; }
    }
    return need;
}

size_t sl_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t cut = max;
    /* step back over continuation bytes, at most 3, to a sequence start */
    for (int i = 0; i < 3 && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80; i++) cut--;
    return cut;
}

/* Appends s with each invalid UTF-8 subsequence replaced by U+FFFD, into a
 * buffer known to have room for 3 bytes per input byte. */
int sl_utf8_sanitize_into(sl_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char *o = b->p + b->len;
    while (p < end) {
        if (*p < 0x80) {
            *o++ = (char)*p++;
            continue;
        }
        size_t bad = 0, k = utf8_seq(p, (size_t)(end - p), &bad);
        if (k) {
            memcpy(o, p, k);
            o += k;
            p += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p += bad;
        }
    }
    b->len = (size_t)(o - b->p);
    return 0;
}

/* ===== STRINGS ===== */

/* bytes that need escaping or checking: control, '"', '\\', non-ASCII */
static const unsigned char plain[256] = {
#define R16(v) v,v,v,v,v,v,v,v,v,v,v,v,v,v,v,v
    R16(0), R16(0),
    1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,      /* 0x20..0x2f: '"' */
    R16(1), R16(1),
    1,1,1,1,1,1,1,1,1,1,1,1,0,1,1,1,      /* 0x50..0x5f: '\\' */
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0)
#undef R16
};

/* ===== RECORDS =====
 * A record is sized first (a bound: 6 output bytes per input byte at worst,
 * \u00XX), the buffer grown once, then written through a bare cursor. */

static size_t str_bound(size_t n)
{
    return 6 * n + 8;
}

/* escaped s at o; returns the new cursor */
static char *esc(char *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (plain[c]) {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t bad = 0, k = utf8_seq(p, (size_t)(end - p), &bad);
            if (k) {
                memcpy(o, p, k);
                o += k;
                p += k;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                p += bad;
            }
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
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hexd[c >> 4];
            *o++ = hexd[c & 15];
        }
        p++;
    }
    return o;
}

static char *str(char *o, const char *s, size_t n, int trunc)
{
    *o++ = '"';
    o = esc(o, s, n);
    if (trunc) {
        memcpy(o, "\xE2\x80\xA6", 3);   /* U+2026: cut here */
        o += 3;
    }
    *o++ = '"';
    return o;
}

#define LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* exactly 8 digits of v < 10^8, two per step, in 32-bit arithmetic */
static char *u32_8(char *o, uint32_t v)
{
    for (int i = 6; i >= 0; i -= 2) {
        memcpy(o + i, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    return o + 8;
}

static char *u32_var(char *o, uint32_t v)
{
    int n = 1;
    for (uint32_t x = v; x >= 10; x /= 10) n++;
    char *e = o + n;
    while (v >= 100) {
        e -= 2;
        memcpy(e, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) memcpy(e - 2, digit_pairs + 2 * v, 2);
    else e[-1] = (char)('0' + v);
    return o + n;
}

/* a 19-digit timestamp as 3 + 8 + 8 digits, each part in 32 bits */
static char *u64(char *o, uint64_t v)
{
    if (v < 100000000u) return u32_var(o, (uint32_t)v);
    if (v < 10000000000000000ull) {
        o = u32_var(o, (uint32_t)(v / 100000000u));
        return u32_8(o, (uint32_t)(v % 100000000u));
    }
    uint64_t hi = v / 100000000u;
    o = u32_var(o, (uint32_t)(hi / 100000000u));
    o = u32_8(o, (uint32_t)(hi % 100000000u));
    return u32_8(o, (uint32_t)(v % 100000000u));
}

static char *i64(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return u64(o, (uint64_t)v);
}

static char *dbl(char *o, double d)
{
    if (isnan(d)) return LIT(o, "\"NaN\"");
    if (isinf(d)) return d > 0 ? LIT(o, "\"Infinity\"") : LIT(o, "\"-Infinity\"");
    /* integral values print as %.15g would, without its cost */
    if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
        if (d == 0 && signbit(d)) return LIT(o, "-0");
        return i64(o, (int64_t)d);
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || n >= (int)sizeof tmp) return LIT(o, "null");
    /* a locale may have set ',' as the decimal point: JSON wants '.' */
    for (int i = 0; i < n; i++)
        if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '-' || tmp[i] == '+' ||
              tmp[i] == 'e' || tmp[i] == 'E'))
            tmp[i] = '.';
    memcpy(o, tmp, (size_t)n);
    return o + n;
}

/* "00".."ff" for each byte value */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
    "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static char *hexid(char *o, const sl_id *id, int from)
{
    *o++ = '"';
    for (int i = from; i < 16; i++) {
        memcpy(o, hex_pairs + 2 * id->bytes[i], 2);
        o += 2;
    }
    *o++ = '"';
    return o;
}

static size_t scalar_bound(const sl_aview *a)
{
    return a->type == SL_ATTR_STRING ? str_bound(a->len) + 3 : 48;
}

static size_t attrs_bound(const char *p, uint32_t n)
{
    size_t b = 16;
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        b += str_bound(a.key_len) + 2;
        if (a.type == SL_ATTR_ARRAY) {
            b += 2;
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                b += scalar_bound(&it) + 1;
            }
        } else {
            b += scalar_bound(&a);
        }
    }
    return b;
}

static char *scalar(char *o, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return str(o, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return i64(o, a->i);
    case SL_ATTR_DOUBLE: return dbl(o, a->d);
    case SL_ATTR_BOOL: return a->len ? LIT(o, "true") : LIT(o, "false");
    default: return LIT(o, "null");
    }
}

static char *attrs(char *o, const char *p, uint32_t n)
{
    o = LIT(o, ",\"attrs\":{");
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        if (i) *o++ = ',';
        o = str(o, a.key, a.key_len, 0);
        *o++ = ':';
        if (a.type == SL_ATTR_ARRAY) {
            *o++ = '[';
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                if (j) *o++ = ',';
                o = scalar(o, &it);
            }
            *o++ = ']';
        } else {
            o = scalar(o, &a);
        }
    }
    *o++ = '}';
    return o;
}

int sl_jsonl_encode(sl_buf *b, const sl_rview *v)
{
    static const char *statuses[] = {"\"ok\"", "\"error\"", "\"abandoned\""};
    if (v->type < SL_REC_START || v->type > SL_REC_END || v->status > 2) return -1;
    int is_end = v->type == SL_REC_END;
    size_t bound = 256 + str_bound(v->text_len) + (is_end ? 0 : attrs_bound(v->attrs, v->nattrs));
    if (sl_buf_reserve(b, bound) != 0) return -1;
    char *o = b->p + b->len;
    switch (v->type) {
    case SL_REC_START: o = LIT(o, "{\"type\":\"start\",\"id\":"); break;
    case SL_REC_EVENT: o = LIT(o, "{\"type\":\"event\",\"id\":"); break;
    case SL_REC_ATTR: o = LIT(o, "{\"type\":\"attr\",\"id\":"); break;
    default: o = LIT(o, "{\"type\":\"end\",\"id\":"); break;
    }
    o = hexid(o, &v->id, 0);
    if (v->type == SL_REC_START) {
        o = LIT(o, ",\"trace\":");
        o = hexid(o, &v->trace, 0);
        if (v->flags & SL_RF_HAS_PARENT) {
            o = LIT(o, ",\"parent\":");
            o = hexid(o, &v->parent, (v->flags & SL_RF_PARENT_REMOTE) ? 8 : 0);
        }
    }
    if (v->type == SL_REC_START || v->type == SL_REC_EVENT) {
        o = LIT(o, ",\"name\":");
        o = str(o, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0);
    }
    o = LIT(o, ",\"ts\":");
    o = u64(o, v->ts);
    if (v->type == SL_REC_START) {
        o = LIT(o, ",\"lane\":");
        o = u64(o, v->lane);
    }
    if (is_end) {
        o = LIT(o, ",\"status\":");
        size_t sl = strlen(statuses[v->status]);
        memcpy(o, statuses[v->status], sl);
        o += sl;
        if (v->status == SL_STATUS_ERROR) {
            o = LIT(o, ",\"error\":");
            o = str(o, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0);
        }
    } else if (v->nattrs) {
        o = attrs(o, v->attrs, v->nattrs);
    }
    o = LIT(o, "}\n");
    b->len = (size_t)(o - b->p);
    return 0;
}

int sl_jsonl_meta(sl_buf *b, const sl_meta *m)
{
    size_t sn = m->service ? strlen(m->service) : 0, hn = m->host ? strlen(m->host) : 0;
    if (sl_buf_reserve(b, 160 + str_bound(sn) + str_bound(hn)) != 0) return -1;
    char *o = b->p + b->len;
    o = LIT(o, "{\"type\":\"meta\",\"format\":\"" SL_FORMAT_NAME "\",\"pid\":");
    o = i64(o, m->pid);
    if (m->service) {
        o = LIT(o, ",\"service\":");
        o = str(o, m->service, sn, 0);
    }
    if (m->host) {
        o = LIT(o, ",\"host\":");
        o = str(o, m->host, hn, 0);
    }
    o = LIT(o, ",\"ts\":");
    o = u64(o, m->ts);
    if (m->dropped) {
        o = LIT(o, ",\"dropped\":");
        o = u64(o, m->dropped);
    }
    o = LIT(o, "}\n");
    b->len = (size_t)(o - b->p);
    return 0;
}
