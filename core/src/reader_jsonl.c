/*
 * reader_jsonl.c: one JSON line -> sl_record, in a single pass.
 *
 * Key idea: lines exactly as the encoder writes them are matched piece by
 * piece (the fast path); any other JSON object is scanned once, looking only
 * at the keys a record can have: strings without escapes are returned as
 * pointers into the line, escaped ones are decoded into a scratch area at
 * least as long as the line (decoding never grows a string), and `attrs` is
 * kept as its raw JSON object text. Types and ids are interpreted last, by
 * the dialect the line turns out to be (spanline here, js-logger in
 * reader_jslogger.c).
 */
#include <stdlib.h>
#include <string.h>

#include "reader_internal.h"

/* ===== SCANNING ===== */

typedef struct cursor {
    const char *p, *e;
    char *scratch;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

/* The four digits of a \uXXXX escape. RFC 8259 lets them be either case;
 * the core's hex table reads lowercase only (text.h), so fold first. */
static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((unsigned)(ch - 'A') < 6u) ch = (unsigned char)(ch + ('a' - 'A'));
        unsigned d = sl_hex_value[ch];
        bad |= d;
        v = (v << 4) | (d & 15);
    }
    *out = v;
    return bad & SL_HEX_BAD ? -1 : 0;
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
            d = sl_utf8_put(d, cp);
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
    if (sl_id_from_hex(p, (size_t)(q - p), out) != SL_OK) return -1;
    *is_short = q - p == 16;
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
    return sl_record_check(out) == SL_OK ? 0 : -1;
}

#undef LIT

/* ===== ANY JSON LAYOUT ===== */

#define KEY(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

/* Where a member's value goes: a string, an integer or the attrs text;
 * none of them for a key no record has (its value is skipped). */
typedef struct slot {
    const char **s;
    size_t *n;
    int64_t *i;
    int unsigned_only;
    int attrs;
} slot;

static slot slot_for(const char *key, size_t klen, sl_jsonl_keys *k, sl_record *out)
{
    slot sl = {0};
    switch (klen) {
    case 2: if (KEY("id")) { sl.s = &k->id; sl.n = &k->id_len; }
            else if (KEY("ts")) { sl.i = (int64_t *)&out->ts; sl.unsigned_only = 1; k->have_ts = 1; }
            break;
    case 3: if (KEY("pid")) sl.i = &out->pid;
            break;
    case 4: if (KEY("type")) { sl.s = &k->type; sl.n = &k->type_len; }
            else if (KEY("name")) { sl.s = &out->name; sl.n = &out->name_len; }
            else if (KEY("lane")) sl.i = &out->lane;
            else if (KEY("host")) { sl.s = &out->host; sl.n = &out->host_len; }
            break;
    case 5: if (KEY("trace")) { sl.s = &k->trace; sl.n = &k->trace_len; }
            else if (KEY("error")) { sl.s = &out->error; sl.n = &out->error_len; }
            else if (KEY("attrs")) sl.attrs = 1;
            break;
    case 6: if (KEY("parent")) { sl.s = &k->parent; sl.n = &k->parent_len; }
            else if (KEY("status")) { sl.s = &out->status; sl.n = &out->status_len; }
            else if (KEY("format")) { sl.s = &out->format; sl.n = &out->format_len; }
            break;
    case 7: if (KEY("service")) { sl.s = &out->service; sl.n = &out->service_len; }
            else if (KEY("startId")) { sl.s = &k->start_id; sl.n = &k->start_id_len; }
            else if (KEY("dropped")) { sl.i = (int64_t *)&out->dropped; sl.unsigned_only = 1; }
            break;
    case 8: if (KEY("parentId")) { sl.s = &k->parent; sl.n = &k->parent_len; }
            break;
    default: break;
    }
    return sl;
}

#undef KEY

/* A value at c, into its slot: null is an absent string or attrs. */
static int read_value(cursor *c, const slot *sl, sl_record *out)
{
    char first = *c->p;
    int is_null = first == 'n' && c->e - c->p >= 4 && !memcmp(c->p, "null", 4);
    if (sl->attrs && !is_null) {
        if (first != '{') return -1;
        const char *s = c->p;
        if (skip_value(c) != 0) return -1;
        out->attrs_json = s;
        out->attrs_len = (size_t)(c->p - s);
        return 0;
    }
    if (sl->s) {
        if (first == '"') return parse_string(c, sl->s, sl->n);
        if (!is_null) return -1;
        c->p += 4;
        return 0;
    }
    if (sl->i) {
        int neg = 0;
        if (parse_int(c, sl->i, &neg) != 0) return -1;
        return neg && sl->unsigned_only ? -1 : 0;
    }
    return skip_value(c);
}

/* One `"key": value` member at c. */
static int read_member(cursor *c, sl_jsonl_keys *k, sl_record *out)
{
    const char *key;
    size_t klen;
    skip_ws(c);
    if (c->p >= c->e || *c->p != '"' || parse_string(c, &key, &klen) != 0) return -1;
    skip_ws(c);
    if (c->p >= c->e || *c->p != ':') return -1;
    c->p++;
    skip_ws(c);
    if (c->p >= c->e) return -1;
    slot sl = slot_for(key, klen, k, out);
    return read_value(c, &sl, out);
}

/* The whole line as one non-empty object. */
static int read_object(cursor *c, sl_jsonl_keys *k, sl_record *out)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '{') return -1;
    c->p++;
    skip_ws(c);
    if (c->p < c->e && *c->p == '}') return -1;
    for (;;) {
        if (read_member(c, k, out) != 0) return -1;
        skip_ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == '}') { c->p++; break; }
        return -1;
    }
    skip_ws(c);
    return c->p == c->e ? 0 : -1;
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
    memset(out, 0, sizeof *out);
    if (parse_canonical(line, line + len, out) == 0) {
        *origin = SL_ORIGIN_SPANLINE_JSONL;
        return SL_OK;
    }
    memset(out, 0, sizeof *out);
    cursor c = { line, line + len, scratch };
    sl_jsonl_keys k;
    memset(&k, 0, sizeof k);
    if (read_object(&c, &k, out) != 0) return SL_EPARSE;
    if (sl_jslogger_line(&k)) {
        *origin = SL_ORIGIN_JSLOGGER;
        return sl_jslogger_record(&k, out);
    }
    *origin = SL_ORIGIN_SPANLINE_JSONL;
    return spanline_record(&k, out);
}
