/*
 * test_jsonl_layouts.c: the JSONL parser gives the same record for the same
 * content in any layout: the encoder's compact lines, Python's json.dumps
 * spacing, whitespace at random places, keys in another order, keys
 * written with escapes (the slow key path), numbers of every length (the
 * sixteen-, eight- and one-digit steps), and every key a record has.
 *
 * Key idea: each variant is made from the compact line by a small JSON
 * tokenizer here (strings kept whole), so a difference can only come from
 * the parser's paths for the layouts, which must agree field by field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reader_internal.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

static const char *const LINES[] = {
    "{\"type\":\"meta\",\"format\":\"spanline/1\",\"pid\":4242,\"service\":\"api\",\"host\":\"h1\","
    "\"ts\":1764000000000000000,\"dropped\":7}",
    "{\"type\":\"start\",\"id\":\"" ID2 "\",\"trace\":\"" ID1 "\",\"parent\":\"" ID1
    "\",\"name\":\"db.query\",\"ts\":1764000000000000001,\"lane\":2,\"attrs\":{\"a\":[1,\"}\"],\"b\":{\"c\":null}}}",
    "{\"type\":\"start\",\"id\":\"" ID2 "\",\"parent\":\"00f067aa0ba902b7\",\"name\":\"x\",\"ts\":5,\"lane\":-3}",
    "{\"type\":\"event\",\"id\":\"" ID2 "\",\"name\":\"retry\",\"ts\":7,\"attrs\":{\"n\":2}}",
    "{\"type\":\"attr\",\"id\":\"" ID2 "\",\"ts\":8,\"attrs\":{\"rows\":10,\"s\":\"a, b: c\"}}",
    "{\"type\":\"end\",\"id\":\"" ID2 "\",\"ts\":9,\"status\":\"error\",\"error\":\"boom \\\"x\\\"\\n\"}",
    "{\"type\":\"end\",\"id\":\"" ID2 "\",\"ts\":12345678901234567,\"status\":\"ok\",\"extra\":[1,{\"y\":\"]\"}]}",
    "{\"type\":\"start\",\"id\":\"" ID1 "\",\"name\":\"n\\u00e9\",\"ts\":1.5e3,\"unknown_long_key\":true}",
    "{\"type\":\"start\",\"id\":\"v0q12tlpvrdo018r2u4batn15lk\",\"parentId\":\"v0q12tlps9lo014t6v8f3smsl74\","
    "\"name\":\"ss-Status\"}",
    "{\"type\":\"stop\",\"id\":\"v0q12tlpvrdo018r2u4batn15lo\",\"startId\":\"v0q12tlpvrdo018r2u4batn15lk\"}",
};

/* ===== VARIANTS ===== */

typedef struct text {
    char s[2048];
    size_t n;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->n + n < sizeof t->s) {
        memcpy(t->s + t->n, s, n);
        t->n += n;
    }
    t->s[t->n] = '\0';
}

static int in_scalar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' || c == 'E';
}

/* The length of the token at p: a whole string, a number or literal, or
 * one byte. */
static size_t token_len(const char *p)
{
    size_t i = 1;
    if (*p == '"') {
        while (p[i] && p[i] != '"') i += p[i] == '\\' ? 2 : 1;
        return i + 1;
    }
    if (in_scalar(*p))
        while (in_scalar(p[i])) i++;
    return i;
}

static unsigned seed = 1;
static unsigned next_rand(void)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
}

/* spaces after ':' and ',' (json.dumps); or, with random set, 0-3 bytes of
 * whitespace between any two tokens and around the line */
static void spaced(const char *line, text *out, int random)
{
    static const char WS[] = " \t\r\n";
    out->n = 0;
    for (const char *p = line; *p;) {
        if (random) {
            for (unsigned k = next_rand() % 4; k > 0; k--) put(out, &WS[next_rand() % 4], 1);
        }
        size_t n = token_len(p);
        put(out, p, n);
        if (!random && n == 1 && (*p == ':' || *p == ',')) put(out, " ", 1);
        p += n;
    }
    if (random) put(out, "\t ", 2);
}

/* every top-level key's first letter as a \u00XX escape (attrs are kept
 * as written, so theirs stay) */
static void escaped_keys(const char *line, text *out)
{
    int depth = 0;
    out->n = 0;
    for (const char *p = line; *p;) {
        size_t n = token_len(p);
        if (n == 1 && (*p == '{' || *p == '[')) depth++;
        if (n == 1 && (*p == '}' || *p == ']')) depth--;
        if (depth == 1 && n > 2 && p[n] == ':') {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned char)p[1]);
            put(out, "\"", 1);
            put(out, esc, 6);
            put(out, p + 2, n - 2);
        } else {
            put(out, p, n);
        }
        p += n;
    }
}

/* The top-level members in reverse order. */
static void reversed(const char *line, text *out)
{
    const char *start[32], *end[32];
    int count = 0, depth = 0;
    for (const char *p = line; *p;) {
        size_t n = token_len(p);
        if (n == 1 && (*p == '{' || *p == '[')) {
            if (depth++ == 0) start[count] = p + 1;
        } else if (n == 1 && (*p == '}' || *p == ']')) {
            if (--depth == 0) end[count++] = p;
        } else if (n == 1 && *p == ',' && depth == 1) {
            end[count++] = p;
            start[count] = p + 1;
        }
        p += n;
    }
    out->n = 0;
    put(out, "{", 1);
    for (int i = count - 1; i >= 0; i--) {
        put(out, start[i], (size_t)(end[i] - start[i]));
        if (i) put(out, ",", 1);
    }
    put(out, "}", 1);
}

/* ===== COMPARING ===== */

static int same_text(const char *a, size_t an, const char *b, size_t bn)
{
    if (!a || !b) return !a && !b;
    return an == bn && memcmp(a, b, an) == 0;
}

static int same_record(const sl_record *a, const sl_record *b)
{
    return a->type == b->type && !memcmp(&a->id, &b->id, sizeof a->id) &&
           !memcmp(&a->trace, &b->trace, sizeof a->trace) && !memcmp(&a->parent, &b->parent, sizeof a->parent) &&
           a->has_trace == b->has_trace && a->has_parent == b->has_parent && a->parent_short == b->parent_short &&
           a->ts == b->ts && a->lane == b->lane && a->pid == b->pid && a->dropped == b->dropped &&
           same_text(a->name, a->name_len, b->name, b->name_len) &&
           same_text(a->status, a->status_len, b->status, b->status_len) &&
           same_text(a->error, a->error_len, b->error, b->error_len) &&
           same_text(a->service, a->service_len, b->service, b->service_len) &&
           same_text(a->host, a->host_len, b->host, b->host_len) &&
           same_text(a->format, a->format_len, b->format, b->format_len);
}

/* attrs are kept as written: the same after removing whitespace outside
 * strings */
static void squeeze(const char *s, size_t n, text *out)
{
    out->n = 0;
    out->s[0] = '\0';
    for (size_t i = 0; i < n;) {
        size_t k = token_len(s + i);
        if (k > n - i) k = n - i;
        if (!(k == 1 && strchr(" \t\r\n", s[i]))) put(out, s + i, k);
        i += k;
    }
}

static int same_attrs(const sl_record *a, const sl_record *b)
{
    if (!a->attrs_json || !b->attrs_json) return !a->attrs_json && !b->attrs_json;
    text x, y;
    squeeze(a->attrs_json, a->attrs_len, &x);
    squeeze(b->attrs_json, b->attrs_len, &y);
    return x.n == y.n && memcmp(x.s, y.s, x.n) == 0;
}

static void check_variant(const char *what, const sl_record *want, int want_origin, const text *v)
{
    char scratch[2048];
    sl_record got;
    int origin = -1;
    int rc = sl_jsonl_parse_line(v->s, v->n, scratch, &got, &origin);
    CHECK_EQ_INT(rc, SL_OK);
    int ok = rc == SL_OK && same_record(want, &got) && same_attrs(want, &got) && origin == want_origin;
    if (!ok) fprintf(stderr, "  %s differs: %s\n", what, v->s);
    CHECK(ok);
}

/* ===== TESTS ===== */

static void test_layouts_agree(void)
{
    for (size_t i = 0; i < sizeof LINES / sizeof LINES[0]; i++) {
        char scratch[2048];
        sl_record want;
        int origin;
        CHECK_EQ_INT(sl_jsonl_parse_line(LINES[i], strlen(LINES[i]), scratch, &want, &origin), SL_OK);
        text v;
        spaced(LINES[i], &v, 0);
        check_variant("json.dumps layout", &want, origin, &v);
        for (int k = 0; k < 200; k++) {
            spaced(LINES[i], &v, 1);
            check_variant("random whitespace", &want, origin, &v);
        }
        escaped_keys(LINES[i], &v);
        check_variant("escaped keys", &want, origin, &v);
        reversed(LINES[i], &v);
        check_variant("reversed members", &want, origin, &v);
    }
}

/* Each field a line can carry is read (every key in the table). */
static void test_every_key(void)
{
    char scratch[2048];
    sl_record r;
    int origin;
    CHECK_EQ_INT(sl_jsonl_parse_line(LINES[0], strlen(LINES[0]), scratch, &r, &origin), SL_OK);
    CHECK(r.type == SL_REC_META && r.pid == 4242 && r.dropped == 7 && r.ts == 1764000000000000000ull);
    CHECK(same_text(r.format, r.format_len, "spanline/1", 10) && same_text(r.service, r.service_len, "api", 3) &&
          same_text(r.host, r.host_len, "h1", 2));
    CHECK_EQ_INT(sl_jsonl_parse_line(LINES[1], strlen(LINES[1]), scratch, &r, &origin), SL_OK);
    CHECK(r.type == SL_REC_START && r.has_trace && r.has_parent && r.lane == 2 && r.attrs_json);
    CHECK(same_text(r.name, r.name_len, "db.query", 8));
    CHECK_EQ_INT(sl_jsonl_parse_line(LINES[5], strlen(LINES[5]), scratch, &r, &origin), SL_OK);
    CHECK(same_text(r.status, r.status_len, "error", 5) && same_text(r.error, r.error_len, "boom \"x\"\n", 9));
    CHECK_EQ_INT(sl_jsonl_parse_line(LINES[8], strlen(LINES[8]), scratch, &r, &origin), SL_OK);
    CHECK(origin == SL_ORIGIN_JSLOGGER && r.has_parent);   /* parentId */
    CHECK_EQ_INT(sl_jsonl_parse_line(LINES[9], strlen(LINES[9]), scratch, &r, &origin), SL_OK);
    CHECK(r.type == SL_REC_END);                            /* startId names the span */
    /* Keys that only look like ours are skipped: a value of the wrong kind
     * under them is no error. */
    const char *near = "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",\"statu\":1,\"statuss\":2,"
                       "\"parentIx\":3,\"parentIdx\":4,\"\":5,\"Ts\":\"x\"}";
    CHECK_EQ_INT(sl_jsonl_parse_line(near, strlen(near), scratch, &r, &origin), SL_OK);
    CHECK(r.ts == 1 && !r.has_parent);
    /* nor are keys that are ours followed by NUL bytes, raw or escaped */
    static const char nul[] = "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",\"ts\0\":\"x\","
                              "\"trace\0\0\":\"x\",\"lane\\u0000\":\"x\"}";
    CHECK_EQ_INT(sl_jsonl_parse_line(nul, sizeof nul - 1, scratch, &r, &origin), SL_OK);
    CHECK(r.ts == 1 && !r.has_trace && r.lane == 0);
}

/* Timestamps of 1 to 24 digits (taken modulo 2^64, as always), signed
 * lanes, with each kind of byte after them. */
static void test_numbers(void)
{
    static const char *const after[] = { "}", ",\"status\":\"ok\"}", " }", "\t,\"status\":\"ok\"}" };
    for (int it = 0; it < 20000; it++) {
        char digits[32], line[256], scratch[256];
        int n = 1 + (int)(next_rand() % 24);
        uint64_t v = 0;
        for (int i = 0; i < n; i++) {
            digits[i] = (char)('0' + next_rand() % 10);
            v = v * 10 + (uint64_t)(digits[i] - '0');
        }
        digits[n] = '\0';
        const char *tail = after[next_rand() % 4];
        int len = snprintf(line, sizeof line, "{\"type\":\"end\",\"status\":\"ok\",\"id\":\"" ID1 "\",\"ts\":%s%s",
                           digits, tail);
        sl_record r;
        int origin;
        int rc = sl_jsonl_parse_line(line, (size_t)len, scratch, &r, &origin);
        CHECK_EQ_INT(rc, SL_OK);
        if (rc == SL_OK && r.ts != v) {
            fprintf(stderr, "  ts %s read as %llu\n", digits, (unsigned long long)r.ts);
            CHECK(r.ts == v);
        }
        len = snprintf(line, sizeof line, "{\"type\":\"start\",\"name\":\"x\",\"id\":\"" ID1 "\",\"ts\":1,\"lane\":-%s%s",
                       digits, tail);
        rc = sl_jsonl_parse_line(line, (size_t)len, scratch, &r, &origin);
        CHECK_EQ_INT(rc, SL_OK);
        if (rc == SL_OK && (uint64_t)r.lane != (uint64_t)0 - v) CHECK((uint64_t)r.lane == (uint64_t)0 - v);
    }
    /* a negative timestamp is refused; a fraction is truncated */
    char scratch[256];
    sl_record r;
    int origin;
    const char *neg = "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":-1,\"status\":\"ok\"}";
    CHECK_EQ_INT(sl_jsonl_parse_line(neg, strlen(neg), scratch, &r, &origin), SL_EPARSE);
    const char *frac = "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":12.75,\"status\":\"ok\"}";
    CHECK_EQ_INT(sl_jsonl_parse_line(frac, strlen(frac), scratch, &r, &origin), SL_OK);
    CHECK_EQ_INT(r.ts, 12);
}

/* Whitespace never makes a bad line good, nor a good one bad. */
static void test_bad_layouts(void)
{
    static const char *const bad[] = {
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",}",
        "{\"type\":\"end\" \"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\"}",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\" 1,\"status\":\"ok\"}",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\"} x",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\"",
        "{ }",
        " ",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",\"attrs\":[1]}",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",\"attrs\":{\"a\":1}",
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":1,\"status\":\"ok\",\"attrs\":{\"a\":\"1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char scratch[512];
        sl_record r;
        int origin;
        int rc = sl_jsonl_parse_line(bad[i], strlen(bad[i]), scratch, &r, &origin);
        if (rc != SL_EPARSE) fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK_EQ_INT(rc, SL_EPARSE);
    }
}

int main(void)
{
    test_layouts_agree();
    test_every_key();
    test_numbers();
    test_bad_layouts();
    return CHECK_DONE();
}
