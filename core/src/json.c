/*
 * json.c: the tables of the JSON value writer (json.h) and its double
 * formatter.
 *
 * Key idea: a double is written in the shortest of %.15g / %.17g that reads
 * back to the same double (integral values without printf), so every writer
 * of JSON text in the core, from whatever input, prints 0.1 as 0.1.
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

char *sl_json_double(char *o, double d)
{
    if (isnan(d)) return SL_PUT_LIT(o, "\"NaN\"");
    if (isinf(d)) return d > 0 ? SL_PUT_LIT(o, "\"Infinity\"") : SL_PUT_LIT(o, "\"-Infinity\"");
    /* integral values print as %.15g would, without its cost */
    if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
        if (d == 0 && signbit(d)) return SL_PUT_LIT(o, "-0");
        return sl_json_i64(o, (int64_t)d);
    }
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
