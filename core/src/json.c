/*
 * json.c: the tables of the JSON value writer (json.h) and its double
 * formatter.
 *
 * Key idea: a double is written in the shortest of %.15g / %.17g that reads
 * back to the same double, so every writer of JSON text in the core, from
 * whatever input, prints 0.1 as 0.1; integers and short decimals, the
 * common cases, get the same digits without printf and strtod.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

/* bytes written as they are; the rest need escaping (control, '"', '\\')
 * or checking as UTF-8 (>= 0x80) */
const unsigned char sl_json_plain[256] = {
#define R16(v) v,v,v,v,v,v,v,v,v,v,v,v,v,v,v,v
    R16(0), R16(0),
    1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,      /* 0x20..0x2f: '"' */
    R16(1), R16(1),
    1,1,1,1,1,1,1,1,1,1,1,1,0,1,1,1,      /* 0x50..0x5f: '\\' */
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0)
#undef R16
};


const char sl_json_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

char *sl_json_u64_wide(char *o, uint64_t v)
{
    if (v >= 1000000000000000000ull && v < 10000000000000000000ull) {
        /* nanoseconds since 1970, for 2001..2286 */
        uint64_t hi = v / 10000000000000000ull, rest = v - hi * 10000000000000000ull;
        uint32_t mid = (uint32_t)(rest / 100000000u), lo = (uint32_t)(rest - (uint64_t)mid * 100000000u);
        o[0] = (char)('0' + hi / 100);
        memcpy(o + 1, sl_json_digit_pairs + 2 * (hi % 100), 2);
        uint64_t a = sl_json_digits8(mid), b = sl_json_digits8(lo);
        memcpy(o + 3, &a, 8);
        memcpy(o + 11, &b, 8);
        return o + 19;
    }
    if (v < 10000000000000000ull) {
        o = sl_json_uint8d(o, (uint32_t)(v / 100000000u));
        return sl_json_u32_8(o, (uint32_t)(v % 100000000u));
    }
    uint64_t hi = v / 100000000u;
    o = sl_json_uint8d(o, (uint32_t)(hi / 100000000u));
    o = sl_json_u32_8(o, (uint32_t)(hi % 100000000u));
    return sl_json_u32_8(o, (uint32_t)(v % 100000000u));
}

char *sl_json_ts_miss(char *o, uint64_t v, sl_json_ts_cache *c)
{
    if (v < 1000000000000000000ull || v >= 10000000000000000000ull) return sl_json_u64(o, v);
    uint64_t hi = v / 100000000u;
    sl_json_u64_wide(c->digits, hi * 100000000u);   /* 19 digits, the first 11 kept */
    c->not_hi = ~hi;
    memcpy(o, c->digits, 16);
    return sl_json_u32_8(o + 11, (uint32_t)(v - hi * 100000000u));
}

/* Fixed-notation decimals of up to 15 significant digits (0.1, 12.25,
 * 3.14159), the common attribute values, without printf: d is m / 10^k for
 * an integer m < 10^15. Then m / 10^k, which IEEE division rounds as strtod
 * rounds the decimal "m e-k", is d, so the digits read back as d; and they
 * are the ones %.15g prints, since d lies within half an ulp of m / 10^k,
 * far closer than 15-digit decimals lie to each other. One test at the
 * largest K with d * 10^K < 10^15 settles every k <= K: the product is
 * then off m * 10^(K-k) by less than 0.25, so it rounds to it; the
 * smallest k drops m's trailing zeros. NULL: not such a number. */
static char *short_decimal(char *o, double d)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = d < 0 ? -d : d;
    if (!(a >= 1e-4 && a < 1e14)) return NULL;   /* %.15g's fixed notation */
    int k = 15;
    while (a >= pow10[15 - k]) k--;              /* a < 10^(15-k): a * 10^k < 10^15 */
    double scaled = a * pow10[k];
    if (scaled >= 1e15) return NULL;
    uint64_t m = (uint64_t)(scaled + 0.5);
    if ((double)m / pow10[k] != a) return NULL;
    for (; k > 0 && m % 10 == 0; k--) m /= 10;
    if (k == 0) return NULL;                     /* integral: not this path's */
    char digits[16];
    size_t n = (size_t)(sl_json_u64(digits, m) - digits);
    size_t whole = n > (size_t)k ? n - (size_t)k : 0;
    if (d < 0) *o++ = '-';
    if (whole) {
        memcpy(o, digits, whole);
        o += whole;
    } else {
        *o++ = '0';
    }
    *o++ = '.';
    for (size_t z = n; z < (size_t)k; z++) *o++ = '0';
    memcpy(o, digits + whole, n - whole);
    return o + (n - whole);
}

char *sl_json_escape_rest(char *o, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = (const unsigned char *)s + n;
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

char *sl_json_double(char *o, double d)
{
    if (isnan(d)) return SL_PUT_LIT(o, "\"NaN\"");
    if (isinf(d)) return d > 0 ? SL_PUT_LIT(o, "\"Infinity\"") : SL_PUT_LIT(o, "\"-Infinity\"");
    /* integral values print as %.15g would, without its cost */
    if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
        if (d == 0 && signbit(d)) return SL_PUT_LIT(o, "-0");
        return sl_json_i64(o, (int64_t)d);
    }
    char *short_end = short_decimal(o, d);
    if (short_end) return short_end;
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) n = snprintf(tmp, sizeof tmp, "%.17g", d);
    if (n < 0 || n >= (int)sizeof tmp) return SL_PUT_LIT(o, "null");
    /* a locale may have set ',' as the decimal point: JSON wants '.' */
    for (int i = 0; i < n; i++)
        if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '-' || tmp[i] == '+' ||
              tmp[i] == 'e' || tmp[i] == 'E'))
            tmp[i] = '.';
    memcpy(o, tmp, (size_t)n);
    return o + n;
}

/* ===== READING STRINGS ===== */

/* The four digits of a \uXXXX escape, either case (RFC 8259; the core's
 * hex table reads lowercase only, text.h, so fold first). */
static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((unsigned)(ch - 'A') < 6u) ch = (unsigned char)(ch + ('a' - 'A'));
        unsigned dv = sl_hex_value[ch];
        bad |= dv;
        v = (v << 4) | (dv & 15);
    }
    *out = v;
    return bad & SL_HEX_BAD ? -1 : 0;
}

const char *sl_json_unescape(const char *p, const char *e, char *d, char **d_end)
{
    while (p < e) {
        char ch = *p;
        if (ch == '"') {
            *d_end = d;
            return p + 1;
        }
        if (ch != '\\') {
            *d++ = ch;
            p++;
            continue;
        }
        if (p + 1 >= e) return NULL;
        switch (p[1]) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (e - p < 6 || hex4(p + 2, &cp) != 0) return NULL;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (e - p >= 8 && p[2] == '\\' && p[3] == 'u' && hex4(p + 4, &lo) == 0 &&
                    lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD;   /* a lone high surrogate; what follows is read on its own */
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;       /* a lone low surrogate */
            }
            d = sl_utf8_put(d, cp);
            break;
        }
        default: return NULL;
        }
        p += 2;
    }
    return NULL;
}

char *sl_json_quote(char *out, const char *s, size_t n)
{
    return sl_json_str(out, s, n, 0);
}
