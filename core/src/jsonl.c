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

int sl_utf8_sanitize(sl_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (sl_buf_reserve(b, n) != 0) return -1;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p < 0x80) p++;
        if (p > run && sl_buf_append(b, run, (size_t)(p - run)) != 0) return -1;
        if (p >= end) break;
        size_t bad = 0, k = utf8_seq(p, (size_t)(end - p), &bad);
        if (k) {
            if (sl_buf_append(b, p, k) != 0) return -1;
            p += k;
        } else {
            if (sl_buf_append(b, "\xEF\xBF\xBD", 3) != 0) return -1;
            p += bad;
        }
    }
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

int sl_json_escape(sl_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (sl_buf_reserve(b, n + 2) != 0) return -1;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && plain[*p]) p++;
        if (p > run && sl_buf_append(b, run, (size_t)(p - run)) != 0) return -1;
        if (p >= end) break;
        unsigned c = *p;
        char esc[6];
        size_t elen = 2;
        esc[0] = '\\';
        if (c >= 0x80) {
            size_t bad = 0, k = utf8_seq(p, (size_t)(end - p), &bad);
            if (k) {
                if (sl_buf_append(b, p, k) != 0) return -1;
                p += k;
            } else {
                if (sl_buf_append(b, "\xEF\xBF\xBD", 3) != 0) return -1;
                p += bad;
            }
            continue;
        }
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            elen = 6;
        }
        if (sl_buf_append(b, esc, elen) != 0) return -1;
        p++;
    }
    return 0;
}

static int put_str(sl_buf *b, const char *s, size_t n, int trunc)
{
    if (sl_buf_putc(b, '"') != 0) return -1;
    if (sl_json_escape(b, s, n) != 0) return -1;
    if (trunc && sl_buf_append(b, "\xE2\x80\xA6", 3) != 0) return -1;   /* U+2026 */
    return sl_buf_putc(b, '"');
}

static int put_lit(sl_buf *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

/* ===== NUMBERS ===== */

static int put_u64(sl_buf *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sl_buf_append(b, tmp + i, (size_t)(24 - i));
}

static int put_i64(sl_buf *b, int64_t v)
{
    if (v < 0) {
        if (sl_buf_putc(b, '-') != 0) return -1;
        return put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(b, (uint64_t)v);
}

static int put_double(sl_buf *b, double d)
{
    if (isnan(d)) return put_lit(b, "\"NaN\"");
    if (isinf(d)) return put_lit(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || n >= (int)sizeof tmp) return -1;
    /* a locale may have set ',' as the decimal point: JSON wants '.' */
    for (int i = 0; i < n; i++)
        if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '-' || tmp[i] == '+' ||
              tmp[i] == 'e' || tmp[i] == 'E'))
            tmp[i] = '.';
    return sl_buf_append(b, tmp, (size_t)n);
}

static int put_id(sl_buf *b, const sl_id *id, int from, int to)
{
    if (sl_buf_reserve(b, 34) != 0) return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (int i = from; i < to; i++) {
        *o++ = hexd[id->bytes[i] >> 4];
        *o++ = hexd[id->bytes[i] & 15];
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return 0;
}

/* ===== RECORDS ===== */

static int put_scalar(sl_buf *b, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return put_str(b, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return put_i64(b, a->i);
    case SL_ATTR_DOUBLE: return put_double(b, a->d);
    case SL_ATTR_BOOL: return put_lit(b, a->len ? "true" : "false");
    default: return put_lit(b, "null");
    }
}

static int put_attrs(sl_buf *b, const char *p, uint32_t n)
{
    if (put_lit(b, ",\"attrs\":{") != 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        if (i && sl_buf_putc(b, ',') != 0) return -1;
        if (put_str(b, a.key, a.key_len, 0) != 0 || sl_buf_putc(b, ':') != 0) return -1;
        if (a.type == SL_ATTR_ARRAY) {
            if (sl_buf_putc(b, '[') != 0) return -1;
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                if (j && sl_buf_putc(b, ',') != 0) return -1;
                if (put_scalar(b, &it) != 0) return -1;
            }
            if (sl_buf_putc(b, ']') != 0) return -1;
        } else if (put_scalar(b, &a) != 0) {
            return -1;
        }
    }
    return sl_buf_putc(b, '}');
}

static const char *status_name(int s)
{
    return s == SL_STATUS_OK ? "ok" : s == SL_STATUS_ERROR ? "error" : "abandoned";
}

static int encode(sl_buf *b, const sl_rview *v)
{
    static const char *types[] = {"meta", "start", "event", "attr", "end"};
    if (v->type < SL_REC_START || v->type > SL_REC_END) return -1;
    if (put_lit(b, "{\"type\":\"") != 0 || put_lit(b, types[v->type]) != 0 ||
        put_lit(b, "\",\"id\":") != 0 || put_id(b, &v->id, 0, 16) != 0)
        return -1;
    if (v->type == SL_REC_START) {
        if (put_lit(b, ",\"trace\":") != 0 || put_id(b, &v->trace, 0, 16) != 0) return -1;
        if (v->flags & SL_RF_HAS_PARENT) {
            int remote = (v->flags & SL_RF_PARENT_REMOTE) != 0;
            if (put_lit(b, ",\"parent\":") != 0 || put_id(b, &v->parent, remote ? 8 : 0, 16) != 0)
                return -1;
        }
    }
    if (v->type == SL_REC_START || v->type == SL_REC_EVENT) {
        if (put_lit(b, ",\"name\":") != 0 ||
            put_str(b, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0) != 0)
            return -1;
    }
    if (put_lit(b, ",\"ts\":") != 0 || put_u64(b, v->ts) != 0) return -1;
    if (v->type == SL_REC_START && (put_lit(b, ",\"lane\":") != 0 || put_u64(b, v->lane) != 0))
        return -1;
    if (v->type == SL_REC_END) {
        if (put_lit(b, ",\"status\":\"") != 0 || put_lit(b, status_name(v->status)) != 0 ||
            sl_buf_putc(b, '"') != 0)
            return -1;
        if (v->status == SL_STATUS_ERROR &&
            (put_lit(b, ",\"error\":") != 0 ||
             put_str(b, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0) != 0))
            return -1;
    } else if (v->nattrs && put_attrs(b, v->attrs, v->nattrs) != 0) {
        return -1;
    }
    return put_lit(b, "}\n");
}

int sl_jsonl_encode(sl_buf *b, const sl_rview *v)
{
    size_t mark = b->len;
    if (encode(b, v) != 0) {
        b->len = mark;
        return -1;
    }
    return 0;
}

int sl_jsonl_meta(sl_buf *b, const sl_meta *m)
{
    size_t mark = b->len;
    int bad = put_lit(b, "{\"type\":\"meta\",\"format\":\"" SL_FORMAT_NAME "\",\"pid\":") ||
              put_i64(b, m->pid);
    if (!bad && m->service)
        bad = put_lit(b, ",\"service\":") || put_str(b, m->service, strlen(m->service), 0);
    if (!bad && m->host) bad = put_lit(b, ",\"host\":") || put_str(b, m->host, strlen(m->host), 0);
    if (!bad) bad = put_lit(b, ",\"ts\":") || put_u64(b, m->ts) || put_lit(b, "}\n");
    if (bad) {
        b->len = mark;
        return -1;
    }
    return 0;
}
