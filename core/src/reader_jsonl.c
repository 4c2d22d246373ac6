/*
 * reader_jsonl.c: one JSON line -> sl_record, in a single pass.
 *
 * Key idea: only the keys a record can have are looked at; strings without
 * escapes are returned as pointers into the line, escaped ones are decoded
 * into a scratch area at least as long as the line (decoding never grows a
 * string), and `attrs` is kept as its raw JSON object text. The same parser
 * reads js-logger streams (start/stop records with base32hex ids).
 */
#include <stdlib.h>
#include <string.h>

#include "reader_internal.h"

/* ===== IDS ===== */

static const int8_t HEX[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
    ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13,
    ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

void sl_reader_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Eight hex digits at a time: each byte's value is its low nibble (+9 for
 * a letter, bit 6); a byte is valid iff re-encoding the value gives the
 * byte back and letters are exactly the values 10..15. */
static int hex8(const char *s, uint8_t out[4])
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t w;
    memcpy(&w, s, 8);
    uint64_t letter = (w >> 6) & ones;
    uint64_t v = (w & (ones * 0x0F)) + letter * 9;
    uint64_t back = v + ones * 0x30 + letter * 0x27;
    uint64_t ge10 = ((v + ones * 0x06) >> 4) & ones;
    uint64_t gt15 = ((v + ones * 0x70) >> 7) & ones;
    if ((back ^ w) | (ge10 ^ letter) | gt15) return -1;
    for (int k = 0; k < 4; k++)
        out[k] = (uint8_t)(((v >> (16 * k)) & 0x0F) << 4 | ((v >> (16 * k + 8)) & 0x0F));
    return 0;
}

#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
/* Hex digit values, 0x10 marks a non-digit: errors are OR-ed and checked
 * once per id instead of a branch per character. */
static const uint8_t HEXV[256] = {
#define X16 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10
    X16, X16, X16,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    X16, X16,
    0x10, 10, 11, 12, 13, 14, 15, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    X16,
    X16, X16, X16, X16, X16, X16, X16, X16,
#undef X16
};
#endif

int sl_reader_parse_hex_id(const char *s, size_t len, sl_id *out, int *is_short)
{
    size_t off;
    if (len == 32) off = 0;
    else if (len == 16) off = 8;
    else return SL_EPARSE;
    memset(out->bytes, 0, off);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (size_t i = 0; i < len; i += 8)
        if (hex8(s + i, out->bytes + off + i / 2) != 0) return SL_EPARSE;
#else
    unsigned bad = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 2) {
        unsigned hi = HEXV[u[i]], lo = HEXV[u[i + 1]];
        bad |= hi | lo;
        out->bytes[off + i / 2] = (uint8_t)((hi << 4) | (lo & 15));
    }
    if (bad & 0x10) return SL_EPARSE;
#endif
    if (is_short) *is_short = len == 16;
    return SL_OK;
}

int sl_reader_parse_jslogger_id(const char *s, size_t len, sl_id *out)
{
    /* 'v' + 26 base32hex digits = 130 bits, the last 2 are padding. */
    if (len != 27 || s[0] != 'v') return SL_EPARSE;
    uint8_t bits[17] = {0};
    unsigned acc = 0;
    int nbits = 0;
    size_t k = 0;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'v') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'V') v = c - 'A' + 10;
        else return SL_EPARSE;
        acc = (acc << 5) | (unsigned)v;
        nbits += 5;
        if (nbits >= 8) {
            nbits -= 8;
            if (k < sizeof bits) bits[k++] = (uint8_t)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    memcpy(out->bytes, bits, 16);
    return SL_OK;
}

uint64_t sl_reader_jslogger_ts(const sl_id *id)
{
    const uint8_t *b = id->bytes;
    uint64_t secs = ((uint64_t)b[0] << 28) | ((uint64_t)b[1] << 20) | ((uint64_t)b[2] << 12) |
                    ((uint64_t)b[3] << 4) | (uint64_t)(b[4] >> 4);
    uint64_t frac = ((uint64_t)(b[4] & 15) << 8) | b[5];
    return secs * 1000000000ull + (frac * 1000000000ull) / 4096u;
}

/* ===== SCANNING ===== */

typedef struct cursor {
    const char *p, *e;
    char *scratch;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

static int put_utf8(char **o, unsigned cp)
{
    char *d = *o;
    if (cp < 0x80) *d++ = (char)cp;
    else if (cp < 0x800) {
        *d++ = (char)(0xC0 | (cp >> 6));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | (cp >> 12));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | (cp >> 18));
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = d;
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = HEX[(unsigned char)p[i]];
        if (!h) {
            unsigned char ch = (unsigned char)p[i];
            if (ch >= 'A' && ch <= 'F') h = ch - 'A' + 11;
            else return -1;
        }
        v = (v << 4) | (unsigned)(h - 1);
    }
    *out = v;
    return 0;
}

/* The first '"' or '\\' in [p, e), or e: eight bytes at a time (the
 * has-zero-byte trick on the XORed word; the lowest hit is exact). */
static const char *scan_string(const char *p, const char *e)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ 0x2222222222222222ull, b = w ^ 0x5c5c5c5c5c5c5c5cull;
        uint64_t t = (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
        if (t) return p + (__builtin_ctzll(t) >> 3);
        p += 8;
    }
#endif
    while (p < e && *p != '"' && *p != '\\') p++;
    return p;
}

/* At the opening quote. Escape-free strings point into the line. */
static int parse_string(cursor *c, const char **out, size_t *out_len)
{
    const char *p = ++c->p, *e = c->e;
    p = scan_string(p, e);
    if (p >= e) return -1;
    if (*p == '"') {
        *out = c->p;
        *out_len = (size_t)(p - c->p);
        c->p = p + 1;
        return 0;
    }
    /* Escapes: decode into scratch (the decoded form is never longer). */
    char *start = c->scratch, *d = start;
    size_t plain = (size_t)(p - c->p);
    memcpy(d, c->p, plain);
    d += plain;
    while (p < e) {
        char ch = *p;
        if (ch == '"') {
            *out = start;
            *out_len = (size_t)(d - start);
            c->scratch = d;
            c->p = p + 1;
            return 0;
        }
        if (ch != '\\') {
            *d++ = ch;
            p++;
            continue;
        }
        if (p + 1 >= e) return -1;
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
            if (e - p < 6 || hex4(p + 2, &cp) != 0) return -1;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (e - p >= 8 && p[2] == '\\' && p[3] == 'u' && hex4(p + 4, &lo) == 0 &&
                    lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            put_utf8(&d, cp);
            break;
        }
        default: return -1;
        }
        p += 2;
    }
    return -1;
}

static int skip_string(cursor *c)
{
    const char *p = c->p + 1, *e = c->e;
    while (p < e) {
        p = scan_string(p, e);
        if (p >= e) break;
        if (*p == '"') { c->p = p + 1; return 0; }
        p += 2;  /* an escape: skip the escaped byte */
    }
    return -1;
}

/* Skips any JSON value; nested containers are matched by depth. */
static int skip_value(cursor *c)
{
    if (c->p >= c->e) return -1;
    char ch = *c->p;
    if (ch == '"') return skip_string(c);
    if (ch == '{' || ch == '[') {
        int depth = 0;
        while (c->p < c->e) {
            ch = *c->p;
            if (ch == '"') {
                if (skip_string(c) != 0) return -1;
                continue;
            }
            if (ch == '{' || ch == '[') depth++;
            else if (ch == '}' || ch == ']') {
                if (--depth == 0) { c->p++; return 0; }
            }
            c->p++;
        }
        return -1;
    }
    const char *s = c->p;
    while (c->p < c->e) {
        ch = *c->p;
        if (ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\t' || ch == '\r') break;
        c->p++;
    }
    return c->p > s ? 0 : -1;
}

/* An integer (a fraction or exponent is accepted and truncated, for
 * streams that went through a double-only JSON encoder). */
static int parse_int(cursor *c, int64_t *out, int *negative)
{
    const char *p = c->p, *e = c->e;
    int neg = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    if (p >= e || *p < '0' || *p > '9') return -1;
    uint64_t v = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) {
        char tmp[64];
        size_t n = 0;
        const char *q = c->p;
        while (q < e && n < sizeof tmp - 1 && strchr("+-.eE0123456789", *q)) tmp[n++] = *q++;
        tmp[n] = '\0';
        double d = strtod(tmp, NULL);
        if (neg) d = -d;
        if (!(d >= 0 && d < 1.8e19)) return -1;
        v = (uint64_t)d;
        p = q;
    }
    c->p = p;
    *out = neg ? -(int64_t)v : (int64_t)v;
    if (negative) *negative = neg;
    return 0;
}

/* ===== RECORDS ===== */

static int type_of(const char *s, size_t n, int *is_stop)
{
    *is_stop = 0;
    switch (n) {
    case 3: if (!memcmp(s, "end", 3)) return SL_REC_END; break;
    case 4:
        if (!memcmp(s, "meta", 4)) return SL_REC_META;
        if (!memcmp(s, "attr", 4)) return SL_REC_ATTR;
        if (!memcmp(s, "stop", 4)) { *is_stop = 1; return SL_REC_END; }
        break;
    case 5:
        if (!memcmp(s, "start", 5)) return SL_REC_START;
        if (!memcmp(s, "event", 5)) return SL_REC_EVENT;
        break;
    }
    return -1;
}

/* A spanline id (32 or 16 hex) or a js-logger id. */
static int parse_any_id(const char *s, size_t n, sl_id *out, int *is_short, int *jslogger)
{
    *is_short = 0;
    if (n == 27 && s[0] == 'v') {
        *jslogger = 1;
        return sl_reader_parse_jslogger_id(s, n, out);
    }
    return sl_reader_parse_hex_id(s, n, out, is_short);
}

#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

/* ===== CANONICAL FAST PATH ===== */

/* Lines exactly as the spanline encoder writes them (its key order, no
 * spaces, no escapes in names/status/error) are matched piece by piece
 * with fixed compares; anything else returns -1 and the general parser
 * below takes the line. Both produce the same record. */
#define LIT(lit) ((size_t)(e - p) >= sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0 \
                  ? (p += sizeof(lit) - 1, 1) : 0)

static int canon_id(const char **pp, const char *e, sl_id *out, int *is_short)
{
    const char *p = *pp;
    const char *q = p;
    if (e - p >= 33 && p[32] == '"') q = p + 32;
    else if (e - p >= 17 && p[16] == '"') q = p + 16;
    else return -1;
    if (sl_reader_parse_hex_id(p, (size_t)(q - p), out, is_short) != SL_OK) return -1;
    *pp = q + 1;
    return 0;
}

static int canon_str(const char **pp, const char *e, const char **s, size_t *n)
{
    const char *p = *pp, *q = scan_string(p, e);
    if (q >= e || *q != '"') return -1;
    *s = p;
    *n = (size_t)(q - p);
    *pp = q + 1;
    return 0;
}

static int canon_uint(const char **pp, const char *e, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    const char *start = p;
    while (p < e && (unsigned)(*p - '0') < 10) v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == start || p - start > 19 || p >= e || (*p != ',' && *p != '}')) return -1;
    *out = v;
    *pp = p;
    return 0;
}

static int parse_canonical(const char *p, const char *e, sl_record *out)
{
    int is_short;
    if (!LIT("{\"type\":\"")) return -1;
    if (LIT("start\"")) out->type = SL_REC_START;
    else if (LIT("end\"")) out->type = SL_REC_END;
    else if (LIT("event\"")) out->type = SL_REC_EVENT;
    else if (LIT("attr\"")) out->type = SL_REC_ATTR;
    else return -1;
    if (!LIT(",\"id\":\"") || canon_id(&p, e, &out->id, &is_short) != 0 || is_short) return -1;
    if (LIT(",\"trace\":\"")) {
        if (canon_id(&p, e, &out->trace, &is_short) != 0 || is_short) return -1;
        out->has_trace = 1;
    }
    if (LIT(",\"parent\":\"")) {
        if (canon_id(&p, e, &out->parent, &is_short) != 0) return -1;
        out->has_parent = 1;
        out->parent_short = (uint8_t)is_short;
    }
    if (LIT(",\"name\":\"") && canon_str(&p, e, &out->name, &out->name_len) != 0) return -1;
    if (!LIT(",\"ts\":") || canon_uint(&p, e, &out->ts) != 0) return -1;
    if (LIT(",\"lane\":")) {
        uint64_t lane;
        if (canon_uint(&p, e, &lane) != 0 || lane > INT64_MAX) return -1;
        out->lane = (int64_t)lane;
    }
    if (LIT(",\"status\":\"") && canon_str(&p, e, &out->status, &out->status_len) != 0) return -1;
    if (LIT(",\"error\":\"") && canon_str(&p, e, &out->error, &out->error_len) != 0) return -1;
    if (LIT(",\"attrs\":")) {
        if (p >= e || *p != '{') return -1;
        cursor c = { p, e, NULL };
        if (skip_value(&c) != 0) return -1;
        out->attrs_json = p;
        out->attrs_len = (size_t)(c.p - p);
        p = c.p;
    }
    if (!LIT("}") || p != e) return -1;
    if ((out->type == SL_REC_START || out->type == SL_REC_EVENT) && !out->name) return -1;
    if (out->type == SL_REC_END && !out->status) return -1;
    return 0;
}

#undef LIT

int sl_jsonl_parse_line(const char *line, size_t len, char *scratch, sl_record *out, int *origin)
{
    cursor c = { line, line + len, scratch };
    const char *type = NULL, *id = NULL, *trace = NULL, *parent = NULL, *start_id = NULL;
    size_t type_len = 0, id_len = 0, trace_len = 0, parent_len = 0, start_id_len = 0;
    int have_ts = 0;

    memset(out, 0, sizeof *out);
    if (parse_canonical(line, line + len, out) == 0) {
        *origin = SL_ORIGIN_SPANLINE_JSONL;
        return SL_OK;
    }
    memset(out, 0, sizeof *out);
    skip_ws(&c);
    if (c.p >= c.e || *c.p != '{') return SL_EPARSE;
    c.p++;
    skip_ws(&c);
    if (c.p < c.e && *c.p == '}') return SL_EPARSE;
    for (;;) {
        const char *key;
        size_t klen;
        skip_ws(&c);
        if (c.p >= c.e || *c.p != '"' || parse_string(&c, &key, &klen) != 0) return SL_EPARSE;
        skip_ws(&c);
        if (c.p >= c.e || *c.p != ':') return SL_EPARSE;
        c.p++;
        skip_ws(&c);
        if (c.p >= c.e) return SL_EPARSE;
        char first = *c.p;
        const char **sp = NULL;
        size_t *sl = NULL;
        int64_t *ip = NULL;
        switch (klen) {
        case 2: if (KEY("id")) { sp = &id; sl = &id_len; }
                else if (KEY("ts")) { ip = (int64_t *)&out->ts; have_ts = 1; }
                break;
        case 3: if (KEY("pid")) ip = &out->pid;
                break;
        case 4: if (KEY("type")) { sp = &type; sl = &type_len; }
                else if (KEY("name")) { sp = &out->name; sl = &out->name_len; }
                else if (KEY("lane")) ip = &out->lane;
                else if (KEY("host")) { sp = &out->host; sl = &out->host_len; }
                break;
        case 5: if (KEY("trace")) { sp = &trace; sl = &trace_len; }
                else if (KEY("error")) { sp = &out->error; sl = &out->error_len; }
                else if (KEY("attrs")) {
                    if (first == 'n') break;  /* null: no attrs */
                    if (first != '{') return SL_EPARSE;
                    const char *s = c.p;
                    if (skip_value(&c) != 0) return SL_EPARSE;
                    out->attrs_json = s;
                    out->attrs_len = (size_t)(c.p - s);
                    goto next;
                }
                break;
        case 6: if (KEY("parent")) { sp = &parent; sl = &parent_len; }
                else if (KEY("status")) { sp = &out->status; sl = &out->status_len; }
                else if (KEY("format")) { sp = &out->format; sl = &out->format_len; }
                break;
        case 7: if (KEY("service")) { sp = &out->service; sl = &out->service_len; }
                else if (KEY("startId")) { sp = &start_id; sl = &start_id_len; }
                break;
        case 8: if (KEY("parentId")) { sp = &parent; sl = &parent_len; }
                break;
        default: break;
        }
        if (sp) {
            if (first == '"') {
                if (parse_string(&c, sp, sl) != 0) return SL_EPARSE;
            } else if (first == 'n' && c.e - c.p >= 4 && !memcmp(c.p, "null", 4)) {
                c.p += 4;  /* null is absent */
            } else {
                return SL_EPARSE;
            }
        } else if (ip) {
            int neg = 0;
            if (parse_int(&c, ip, &neg) != 0) return SL_EPARSE;
            if (neg && ip == (int64_t *)&out->ts) return SL_EPARSE;
        } else if (skip_value(&c) != 0) {
            return SL_EPARSE;
        }
next:
        skip_ws(&c);
        if (c.p >= c.e) return SL_EPARSE;
        if (*c.p == ',') { c.p++; continue; }
        if (*c.p == '}') { c.p++; break; }
        return SL_EPARSE;
    }
    skip_ws(&c);
    if (c.p != c.e) return SL_EPARSE;

    /* Validate and convert. */
    int is_stop, jslogger = 0, is_short = 0;
    if (!type) return SL_EPARSE;
    int t = type_of(type, type_len, &is_stop);
    if (t < 0) return SL_EPARSE;
    out->type = (sl_record_type)t;
    if (t == SL_REC_META) {
        *origin = SL_ORIGIN_SPANLINE_JSONL;
        return SL_OK;
    }
    if (!id) return SL_EPARSE;
    if (is_stop) {
        /* js-logger: the record's own id stamps the time; startId names the span. */
        sl_id own;
        if (!start_id || sl_reader_parse_jslogger_id(id, id_len, &own) != SL_OK) return SL_EPARSE;
        if (sl_reader_parse_jslogger_id(start_id, start_id_len, &out->id) != SL_OK) return SL_EPARSE;
        if (!have_ts) out->ts = sl_reader_jslogger_ts(&own);
        if (!out->status) { out->status = "ok"; out->status_len = 2; }
        *origin = SL_ORIGIN_JSLOGGER;
        return SL_OK;
    }
    if (parse_any_id(id, id_len, &out->id, &is_short, &jslogger) != SL_OK || is_short) return SL_EPARSE;
    if (trace) {
        int js2 = 0;
        if (parse_any_id(trace, trace_len, &out->trace, &is_short, &js2) != SL_OK || is_short)
            return SL_EPARSE;
        out->has_trace = 1;
    }
    if (parent) {
        int js2 = 0;
        if (parse_any_id(parent, parent_len, &out->parent, &is_short, &js2) != SL_OK) return SL_EPARSE;
        out->has_parent = 1;
        out->parent_short = (uint8_t)is_short;
    }
    if (jslogger && !have_ts) out->ts = sl_reader_jslogger_ts(&out->id);
    if (t == SL_REC_END && !out->status) {
        if (!jslogger) return SL_EPARSE;
        out->status = "ok";
        out->status_len = 2;
    }
    if ((t == SL_REC_START || t == SL_REC_EVENT) && !out->name) return SL_EPARSE;
    *origin = jslogger ? SL_ORIGIN_JSLOGGER : SL_ORIGIN_SPANLINE_JSONL;
    return SL_OK;
}

/* ===== ENCODING (records back to spanline/1 lines) ===== */

int sl_rbuf_reserve(sl_rbuf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return SL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->ptr, cap);
    if (!p) return SL_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return SL_OK;
}

void sl_rbuf_free(sl_rbuf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

static int put(sl_rbuf *b, const char *s, size_t n)
{
    if (sl_rbuf_reserve(b, n) != SL_OK) return SL_ENOMEM;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    return SL_OK;
}

#define PUTLIT(b, lit) put(b, lit, sizeof(lit) - 1)

int sl_json_put_string(sl_rbuf *b, const char *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (sl_rbuf_reserve(b, len * 6 + 2) != SL_OK) return SL_ENOMEM;
    char *d = b->ptr + b->len;
    *d++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') { *d++ = '\\'; *d++ = (char)ch; }
        else if (ch == '\n') { *d++ = '\\'; *d++ = 'n'; }
        else if (ch == '\t') { *d++ = '\\'; *d++ = 't'; }
        else if (ch == '\r') { *d++ = '\\'; *d++ = 'r'; }
        else if (ch < 0x20) {
            memcpy(d, "\\u00", 4);
            d[4] = digits[ch >> 4];
            d[5] = digits[ch & 15];
            d += 6;
        } else *d++ = (char)ch;
    }
    *d++ = '"';
    b->len = (size_t)(d - b->ptr);
    return SL_OK;
}

static int put_id(sl_rbuf *b, const char *key, size_t klen, const sl_id *id, int is_short)
{
    char hex[33];
    if (is_short) sl_reader_hex(id->bytes + 8, 8, hex);
    else sl_reader_hex(id->bytes, 16, hex);
    if (put(b, key, klen) != SL_OK) return SL_ENOMEM;
    if (put(b, hex, strlen(hex)) != SL_OK) return SL_ENOMEM;
    return put(b, "\"", 1);
}

static int put_u64(sl_rbuf *b, const char *key, size_t klen, uint64_t v, int neg)
{
    char tmp[32];
    int n = 0;
    char digits[24];
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    size_t k = 0;
    if (neg) tmp[k++] = '-';
    while (n) tmp[k++] = digits[--n];
    if (put(b, key, klen) != SL_OK) return SL_ENOMEM;
    return put(b, tmp, k);
}

int sl_record_to_jsonl(const sl_record *r, sl_rbuf *b)
{
    static const char *const types[] = { "meta", "start", "event", "attr", "end" };
    int rc = PUTLIT(b, "{\"type\":\"");
    rc |= put(b, types[r->type], strlen(types[r->type]));
    rc |= PUTLIT(b, "\"");
    if (r->type == SL_REC_META) {
        if (r->format) { rc |= PUTLIT(b, ",\"format\":"); rc |= sl_json_put_string(b, r->format, r->format_len); }
        if (r->pid) rc |= put_u64(b, ",\"pid\":", 7, (uint64_t)(r->pid < 0 ? -r->pid : r->pid), r->pid < 0);
        if (r->service) { rc |= PUTLIT(b, ",\"service\":"); rc |= sl_json_put_string(b, r->service, r->service_len); }
        if (r->host) { rc |= PUTLIT(b, ",\"host\":"); rc |= sl_json_put_string(b, r->host, r->host_len); }
        if (r->ts) rc |= put_u64(b, ",\"ts\":", 6, r->ts, 0);
        rc |= PUTLIT(b, "}\n");
        return rc ? SL_ENOMEM : SL_OK;
    }
    rc |= put_id(b, ",\"id\":\"", 7, &r->id, 0);
    if (r->has_trace) rc |= put_id(b, ",\"trace\":\"", 10, &r->trace, 0);
    if (r->has_parent) rc |= put_id(b, ",\"parent\":\"", 11, &r->parent, r->parent_short);
    if (r->name) { rc |= PUTLIT(b, ",\"name\":"); rc |= sl_json_put_string(b, r->name, r->name_len); }
    rc |= put_u64(b, ",\"ts\":", 6, r->ts, 0);
    if (r->type == SL_REC_START && r->lane)
        rc |= put_u64(b, ",\"lane\":", 8, (uint64_t)(r->lane < 0 ? -r->lane : r->lane), r->lane < 0);
    if (r->status) { rc |= PUTLIT(b, ",\"status\":"); rc |= sl_json_put_string(b, r->status, r->status_len); }
    if (r->error) { rc |= PUTLIT(b, ",\"error\":"); rc |= sl_json_put_string(b, r->error, r->error_len); }
    if (r->attrs_json) { rc |= PUTLIT(b, ",\"attrs\":"); rc |= put(b, r->attrs_json, r->attrs_len); }
    rc |= PUTLIT(b, "}\n");
    return rc ? SL_ENOMEM : SL_OK;
}

size_t sl_record_jsonl(const sl_record *rec, char *buf, size_t cap)
{
    sl_rbuf b = { 0 };
    size_t n = 0;
    if (sl_record_to_jsonl(rec, &b) == SL_OK) {
        n = b.len;
        if (n <= cap) memcpy(buf, b.ptr, n);
    }
    sl_rbuf_free(&b);
    return n;
}
