/*
 * fuzz_jsonl_encoder.c: libFuzzer harness for the JSONL encoder.
 *
 * The input is a little program (see next_op): spans, attributes of every
 * type, events and ends whose names, keys and values are raw fuzzer bytes,
 * run through a tracer with a callback sink, a counter clock, a fixed id
 * seed and small limits. Every line written must be one strict RFC 8259 JSON
 * object in valid UTF-8 (checked by the validator below); anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spanline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ===== a strict JSON validator ===== */

typedef struct { const unsigned char *p, *end; int depth; } jv;

static int jv_value(jv *v);

static void jv_ws(jv *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\r' || *v->p == '\n')) v->p++;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int jv_u4(jv *v, unsigned *out)
{
    unsigned u = 0;
    if (v->end - v->p < 4) return 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(v->p[i]);
        if (h < 0) return 0;
        u = u << 4 | (unsigned)h;
    }
    v->p += 4;
    *out = u;
    return 1;
}

/* One UTF-8 sequence: shortest form, no surrogates, at most U+10FFFF. */
static int jv_utf8(jv *v)
{
    const unsigned char *p = v->p;
    size_t left = (size_t)(v->end - p);
    unsigned c = p[0];
    unsigned cp, n;
    if (c < 0x80) { v->p++; return 1; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return 0;
    if (left < n + 1) return 0;
    for (unsigned i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    v->p += n + 1;
    return 1;
}

static int jv_string(jv *v)
{
    if (v->p >= v->end || *v->p != '"') return 0;
    v->p++;
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') { v->p++; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            v->p++;
            if (v->p >= v->end) return 0;
            c = *v->p++;
            if (c == 'u') {
                unsigned u, lo;
                if (!jv_u4(v, &u)) return 0;
                if (u >= 0xdc00 && u <= 0xdfff) return 0;          /* lone low surrogate */
                if (u >= 0xd800 && u <= 0xdbff) {                  /* needs its low half */
                    if (v->end - v->p < 6 || v->p[0] != '\\' || v->p[1] != 'u') return 0;
                    v->p += 2;
                    if (!jv_u4(v, &lo) || lo < 0xdc00 || lo > 0xdfff) return 0;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return 0;
            }
        } else if (!jv_utf8(v)) {
            return 0;
        }
    }
    return 0;
}

static int jv_digits(jv *v)
{
    const unsigned char *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9') v->p++;
    return v->p > s;
}

static int jv_number(jv *v)
{
    if (v->p < v->end && *v->p == '-') v->p++;
    if (v->p >= v->end) return 0;
    if (*v->p == '0') v->p++;
    else if (!jv_digits(v)) return 0;
    if (v->p < v->end && *v->p == '.') { v->p++; if (!jv_digits(v)) return 0; }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (!jv_digits(v)) return 0;
    }
    return 1;
}

static int jv_lit(jv *v, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, w, n) != 0) return 0;
    v->p += n;
    return 1;
}

static int jv_object(jv *v)
{
    v->p++; /* '{' */
    jv_ws(v);
    if (v->p < v->end && *v->p == '}') { v->p++; return 1; }
    for (;;) {
        jv_ws(v);
        if (!jv_string(v)) return 0;
        jv_ws(v);
        if (v->p >= v->end || *v->p++ != ':') return 0;
        if (!jv_value(v)) return 0;
        jv_ws(v);
        if (v->p >= v->end) return 0;
        if (*v->p == ',') { v->p++; continue; }
        if (*v->p == '}') { v->p++; return 1; }
        return 0;
    }
}

static int jv_array(jv *v)
{
    v->p++; /* '[' */
    jv_ws(v);
    if (v->p < v->end && *v->p == ']') { v->p++; return 1; }
    for (;;) {
        if (!jv_value(v)) return 0;
        jv_ws(v);
        if (v->p >= v->end) return 0;
        if (*v->p == ',') { v->p++; continue; }
        if (*v->p == ']') { v->p++; return 1; }
        return 0;
    }
}

static int jv_value(jv *v)
{
    int ok;
    jv_ws(v);
    if (v->p >= v->end || ++v->depth > 64) return 0;
    switch (*v->p) {
    case '{': ok = jv_object(v); break;
    case '[': ok = jv_array(v); break;
    case '"': ok = jv_string(v); break;
    case 't': ok = jv_lit(v, "true"); break;
    case 'f': ok = jv_lit(v, "false"); break;
    case 'n': ok = jv_lit(v, "null"); break;
    default: ok = jv_number(v); break;
    }
    v->depth--;
    return ok;
}

/* One line: exactly one JSON object and nothing else. */
static int json_line_ok(const char *line, size_t len)
{
    jv v = { (const unsigned char *)line, (const unsigned char *)line + len, 0 };
    jv_ws(&v);
    if (v.p >= v.end || *v.p != '{') return 0;
    if (!jv_value(&v)) return 0;
    jv_ws(&v);
    return v.p == v.end;
}

/* ===== the sink and the clock ===== */

static char *out_buf;
static size_t out_len, out_cap;

static int sink_write(void *ud, const char *bytes, size_t len)
{
    (void)ud;
    if (out_len + len > out_cap) {
        size_t cap = out_cap ? out_cap : 4096;
        while (cap < out_len + len) cap *= 2;
        char *nb = realloc(out_buf, cap);
        if (!nb) return 12; /* ENOMEM */
        out_buf = nb;
        out_cap = cap;
    }
    memcpy(out_buf + out_len, bytes, len);
    out_len += len;
    return 0;
}

static uint64_t counter_clock(void *ud)
{
    uint64_t *t = ud;
    return *t += 1000;
}

/* ===== reading the input as a program ===== */

typedef struct { const uint8_t *p; size_t left; } input;

static unsigned next_byte(input *in)
{
    if (!in->left) return 0;
    in->left--;
    return *in->p++;
}

/* A length-prefixed run of raw bytes (pointer into the input). */
static const char *next_bytes(input *in, size_t *len)
{
    size_t n = next_byte(in);
    if (n == 255) n = 255 + next_byte(in) * 16; /* sometimes long */
    if (n > in->left) n = in->left;
    const char *s = (const char *)in->p;
    in->p += n;
    in->left -= n;
    *len = n;
    return s;
}

static uint64_t next_u64(input *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | next_byte(in);
    return v;
}

static void next_attr(input *in, sl_attr *a, sl_attr *items, size_t nitems)
{
    a->key = next_bytes(in, &a->key_len);
    switch (next_byte(in) % 6) {
    case 0: a->type = SL_ATTR_STRING; a->v.s.ptr = next_bytes(in, &a->v.s.len); break;
    case 1: a->type = SL_ATTR_INT; a->v.i = (int64_t)next_u64(in); break;
    case 2: { /* any bit pattern: NaN payloads, infinities, denormals */
        uint64_t bits = next_u64(in);
        a->type = SL_ATTR_DOUBLE;
        memcpy(&a->v.d, &bits, sizeof bits);
        break;
    }
    case 3: a->type = SL_ATTR_BOOL; a->v.b = (int)next_byte(in) - 1; break;
    case 4: a->type = SL_ATTR_STRING; a->v.s.ptr = NULL; a->v.s.len = 0; break;
    default: {
        size_t n = items ? next_byte(in) % (nitems + 1) : 0;
        for (size_t i = 0; i < n; i++) next_attr(in, &items[i], NULL, 0);
        a->type = SL_ATTR_ARRAY;
        a->v.a.items = items;
        a->v.a.n = n;
        break;
    }
    }
}

#define MAX_OPEN 8
#define MAX_ATTRS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = { data, size };
    uint64_t now = 1000000;
    char service[64], host[64];
    size_t n;
    const char *s;

    out_len = 0;
    s = next_bytes(&in, &n);
    if (n > sizeof service - 1) n = sizeof service - 1;
    memcpy(service, s, n);
    service[n] = 0;
    s = next_bytes(&in, &n);
    if (n > sizeof host - 1) n = sizeof host - 1;
    memcpy(host, s, n);
    host[n] = 0;

    sl_config cfg;
    sl_config_init(&cfg);
    cfg.sink = SL_SINK_CALLBACK;
    cfg.write = sink_write;
    cfg.format = SL_JSONL;
    cfg.background = 0;
    cfg.buffer_size = 4096 << (next_byte(&in) % 6);
    cfg.service = service;
    cfg.host = host;
    cfg.clock = counter_clock;
    cfg.clock_ud = &now;
    cfg.seed = 1 + next_byte(&in);
    cfg.limits.max_attrs = 1 + next_byte(&in) % 8;
    cfg.limits.max_value_len = 1 + next_byte(&in) * 4;
    cfg.limits.max_name_len = 1 + next_byte(&in);
    if (next_byte(&in) & 1) cfg.flush = SL_FLUSH_ALWAYS;

    sl_error err;
    sl_tracer *t = sl_tracer_open(&cfg, &err);
    if (!t) abort();

    static sl_span spans[MAX_OPEN];
    int open = 0;
    sl_attr attrs[MAX_ATTRS], items[MAX_ATTRS][4];
    while (in.left) {
        unsigned op = next_byte(&in) % 6;
        size_t na = next_byte(&in) % (MAX_ATTRS + 1);
        for (size_t i = 0; i < na; i++) next_attr(&in, &attrs[i], items[i], 4);
        if (op == 0 || open == 0) {
            if (open == MAX_OPEN) { sl_span_end(&spans[--open], SL_STATUS_OK, NULL, 0); continue; }
            sl_context parent;
            sl_start_opts so;
            memset(&so, 0, sizeof so);
            if (open) { sl_span_context(&spans[open - 1], &parent); so.parent = &parent; }
            so.attrs = attrs;
            so.nattrs = na;
            s = next_bytes(&in, &n);
            if (sl_span_begin(t, &spans[open], s, n, &so) == SL_OK) open++;
        } else if (op == 1) {
            sl_span_attrs(&spans[open - 1], attrs, na);
        } else if (op == 2) {
            s = next_bytes(&in, &n);
            sl_span_event(&spans[open - 1], s, n, attrs, na);
        } else if (op == 3) {
            sl_span_end(&spans[--open], SL_STATUS_OK, NULL, 0);
        } else if (op == 4) {
            s = next_bytes(&in, &n);
            sl_span_end(&spans[--open], SL_STATUS_ERROR, s, n);
        } else {
            sl_tracer_flush(t);
        }
    }
    /* spans still open are ended as abandoned by close */
    sl_tracer_close(t);

    size_t start = 0, lines = 0;
    for (size_t i = 0; i < out_len; i++) {
        if (out_buf[i] != '\n') continue;
        if (!json_line_ok(out_buf + start, i - start)) {
            fprintf(stderr, "invalid JSON line: %.*s\n", (int)(i - start), out_buf + start);
            abort();
        }
        start = i + 1;
        lines++;
    }
    if (start != out_len) { fprintf(stderr, "unterminated last line\n"); abort(); }
    if (lines == 0) abort(); /* the meta record at least */
    return 0;
}
