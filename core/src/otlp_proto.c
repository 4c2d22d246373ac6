/*
 * otlp_proto.c: the OTLP protobuf encoder: spans as
 * opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.
 *
 * Key idea: the wire format is small enough to write by hand. A nested
 * message's length comes before its bytes, so it is written with a one-byte
 * length and, in the rare case the message is 128 bytes or more, moved up
 * to make room for the longer varint once its size is known. A batch keeps
 * its spans already framed as ScopeSpans.spans fields, so a request is the
 * envelope (whose sizes are sums) around bytes written once. Fields go out
 * in field-number order; defaults (empty strings, zero counts) are left
 * out, as protobuf encoders do.
 */
#include <math.h>

#include "otlp.h"

/* wire types */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ===== PRIMITIVES (into reserved room) ===== */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static char *put_varint(char *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (char)(v | 0x80);
        v >>= 7;
    }
    *o++ = (char)v;
    return o;
}

/* n little-endian bytes of v (fixed64: 8, fixed32: 4) */
static char *put_fixed(char *o, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) *o++ = (char)(v >> (8 * i));
    return o;
}

static char *put_tag(char *o, unsigned field, unsigned wt)
{
    return put_varint(o, (uint64_t)field << 3 | wt);
}

/* ===== BUFFER WRITERS ===== */

#define TAG_MAX 3

static int w_bytes(sl_buf *b, unsigned field, const void *p, size_t n)
{
    if (sl_buf_reserve(b, TAG_MAX + 10 + n) != SL_OK) return SL_ENOMEM;
    char *o = b->ptr + b->len;
    o = put_tag(o, field, WT_LEN);
    o = put_varint(o, n);
    if (n) memcpy(o, p, n);
    b->len = (size_t)(o + n - b->ptr);
    return SL_OK;
}

/* A string field: invalid UTF-8 replaced (protobuf strings must be UTF-8),
 * cut marked with U+2026 like the JSON encoders mark it. */
static int w_string(sl_buf *b, unsigned field, const char *s, size_t n, int cut)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n && !cut) return w_bytes(b, field, s, n);
    if (sl_buf_reserve(b, TAG_MAX + 10 + 3 * n + 3) != SL_OK) return SL_ENOMEM;
    sl_buf tmp = {b->ptr + b->len + TAG_MAX + 10, 0, 3 * n + 3, 1};
    sl_utf8_sanitize_into(&tmp, s, n);
    if (cut) {
        memcpy(tmp.ptr + tmp.len, "\xE2\x80\xA6", 3);
        tmp.len += 3;
    }
    char *o = b->ptr + b->len;
    o = put_tag(o, field, WT_LEN);
    o = put_varint(o, tmp.len);
    memmove(o, tmp.ptr, tmp.len);
    b->len = (size_t)(o + tmp.len - b->ptr);
    return SL_OK;
}

/* A number field: wt WT_VARINT, WT_I64 (fixed64, double bits) or WT_I32. */
static int w_num(sl_buf *b, unsigned field, unsigned wt, uint64_t v)
{
    if (sl_buf_reserve(b, TAG_MAX + 10) != SL_OK) return SL_ENOMEM;
    char *o = put_tag(b->ptr + b->len, field, wt);
    o = wt == WT_VARINT ? put_varint(o, v) : put_fixed(o, v, wt == WT_I64 ? 8 : 4);
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

/* Opens a nested message: writes its tag and a one-byte length; returns
 * where its bytes start (an offset: the buffer may move), or 0 on ENOMEM. */
static size_t msg_open(sl_buf *b, unsigned field)
{
    if (sl_buf_reserve(b, TAG_MAX + 1) != SL_OK) return 0;
    char *o = put_tag(b->ptr + b->len, field, WT_LEN);
    b->len = (size_t)(o - b->ptr) + 1;
    return b->len;
}

/* Closes the message opened at start: its length, moving it up when the
 * length needs more than one byte. */
static int msg_close(sl_buf *b, size_t start)
{
    size_t n = b->len - start, vl = varint_len(n);
    if (vl > 1) {
        if (sl_buf_reserve(b, vl - 1) != SL_OK) return SL_ENOMEM;
        memmove(b->ptr + start + vl - 1, b->ptr + start, n);
        b->len += vl - 1;
    }
    put_varint(b->ptr + start - 1, n);
    return SL_OK;
}

#define TRY(x) do { if ((x) != SL_OK) return SL_ENOMEM; } while (0)
#define OPEN(pos, b, field) do { if (((pos) = msg_open((b), (field))) == 0) return SL_ENOMEM; } while (0)

/* ===== ATTRIBUTES ===== */

/* AnyValue fields */
enum { AV_STRING = 1, AV_BOOL = 2, AV_INT = 3, AV_DOUBLE = 4, AV_ARRAY = 5 };

static int w_scalar(sl_buf *b, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return w_string(b, AV_STRING, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return w_num(b, AV_INT, WT_VARINT, (uint64_t)a->i);
    case SL_ATTR_BOOL: return w_num(b, AV_BOOL, WT_VARINT, a->len != 0);
    case SL_ATTR_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &a->d, 8);
        return w_num(b, AV_DOUBLE, WT_I64, bits);
    }
    default: return SL_OK;   /* an empty AnyValue */
    }
}

/* One KeyValue (field `field` of the enclosing message) from the attribute
 * at p; returns the position after it (array items included), NULL on ENOMEM. */
static const char *w_attr(sl_buf *b, unsigned field, const char *p)
{
    sl_aview a;
    p = sl_attr_read(p, &a);
    size_t kv = msg_open(b, field), av;
    if (!kv || w_string(b, 1, a.key, a.key_len, 0) != SL_OK || !(av = msg_open(b, 2))) return NULL;
    if (a.type == SL_ATTR_ARRAY) {
        size_t arr = msg_open(b, AV_ARRAY);
        if (!arr) return NULL;
        for (size_t j = 0; j < a.len; j++) {
            sl_aview it;
            p = sl_attr_read(p, &it);
            size_t item = msg_open(b, 1);
            if (!item || w_scalar(b, &it) != SL_OK || msg_close(b, item) != SL_OK) return NULL;
        }
        if (msg_close(b, arr) != SL_OK) return NULL;
    } else if (w_scalar(b, &a) != SL_OK) {
        return NULL;
    }
    if (msg_close(b, av) != SL_OK || msg_close(b, kv) != SL_OK) return NULL;
    return p;
}

/* Writes the attributes (the last of equal keys only) as repeated field. */
static int w_attrs(sl_buf *b, unsigned field, const char *attrs, uint32_t n)
{
    const char *p = attrs;
    for (uint32_t i = 0; i < n; i++) {
        if (sl_attr_shadowed(p, n - i)) {
            p = sl_attr_skip(p);
            continue;
        }
        if (!(p = w_attr(b, field, p))) return SL_ENOMEM;
    }
    return SL_OK;
}

/* A KeyValue with a scalar value (the extra attributes and the resource). */
static int w_kv(sl_buf *b, unsigned field, const char *key, const sl_aview *v)
{
    size_t kv, av;
    OPEN(kv, b, field);
    TRY(w_string(b, 1, key, strlen(key), 0));
    OPEN(av, b, 2);
    TRY(w_scalar(b, v));
    TRY(msg_close(b, av));
    return msg_close(b, kv);
}

static int w_kv_string(sl_buf *b, unsigned field, const char *key, const char *v, size_t n)
{
    sl_aview a = {.type = SL_ATTR_STRING, .s = v, .len = n};
    return w_kv(b, field, key, &a);
}

static int w_kv_int(sl_buf *b, unsigned field, const char *key, int64_t v)
{
    sl_aview a = {.type = SL_ATTR_INT, .i = v};
    return w_kv(b, field, key, &a);
}

static int w_kv_true(sl_buf *b, unsigned field, const char *key)
{
    sl_aview a = {.type = SL_ATTR_BOOL, .len = 1};
    return w_kv(b, field, key, &a);
}

/* ===== SPANS ===== */

/* Span fields */
enum {
    SP_TRACE_ID = 1, SP_SPAN_ID = 2, SP_PARENT_ID = 4, SP_NAME = 5, SP_KIND = 6, SP_START = 7,
    SP_END = 8, SP_ATTRS = 9, SP_EVENTS = 11, SP_STATUS = 15, SP_FLAGS = 16
};

static int w_span_body(sl_buf *b, const sl_otlp_span *s)
{
    TRY(w_bytes(b, SP_TRACE_ID, s->trace.bytes, 16));
    TRY(w_bytes(b, SP_SPAN_ID, s->id.bytes + 8, 8));
    if (s->has_parent) TRY(w_bytes(b, SP_PARENT_ID, s->parent.bytes + 8, 8));
    TRY(w_string(b, SP_NAME, s->name, s->name_len, 0));
    TRY(w_num(b, SP_KIND, WT_VARINT, (uint64_t)(s->kind ? s->kind : 1)));   /* 1: SPAN_KIND_INTERNAL */
    TRY(w_num(b, SP_START, WT_I64, s->start));
    TRY(w_num(b, SP_END, WT_I64, s->end));
    TRY(w_attrs(b, SP_ATTRS, s->attrs, s->nattrs));
    if (s->lane > 0) TRY(w_kv_int(b, SP_ATTRS, "spanline.lane", s->lane));
    if (s->status == SL_STATUS_ABANDONED) TRY(w_kv_true(b, SP_ATTRS, "spanline.abandoned"));
    if (s->status == SL_OTLP_OPEN) TRY(w_kv_true(b, SP_ATTRS, "spanline.open"));
    for (size_t i = 0; i < s->nevents; i++) {
        const sl_otlp_event *e = &s->events[i];
        size_t ev;
        OPEN(ev, b, SP_EVENTS);
        TRY(w_num(b, 1, WT_I64, e->ts));
        TRY(w_string(b, 2, e->name, e->name_len, 0));
        TRY(w_attrs(b, 3, e->attrs, e->nattrs));
        TRY(msg_close(b, ev));
    }
    if (s->status == SL_STATUS_ERROR) {
        size_t st;
        OPEN(st, b, SP_STATUS);
        if (s->error_len) TRY(w_string(b, 2, s->error, s->error_len, 0));
        TRY(w_num(b, 3, WT_VARINT, 2));   /* STATUS_CODE_ERROR */
        TRY(msg_close(b, st));
    }
    /* W3C trace flags (sampled) | HAS_IS_REMOTE | IS_REMOTE of the parent */
    return w_num(b, SP_FLAGS, WT_I32, 0x101u | (s->has_parent && s->parent_remote ? 0x200u : 0));
}

/* Appends the span framed as ScopeSpans.spans (field 2). */
int sl_otlp_proto_span(sl_buf *out, sl_buf *scratch, const sl_otlp_span *s)
{
    scratch->len = 0;
    TRY(w_span_body(scratch, s));
    return w_bytes(out, 2, scratch->ptr, scratch->len);
}

/* ===== REQUEST ===== */

static int w_resource(sl_buf *b, const sl_otlp_batch *batch)
{
    const char *svc = batch->service ? batch->service : "unknown_service";
    TRY(w_kv_string(b, 1, "service.name", svc, strlen(svc)));
    if (batch->host) TRY(w_kv_string(b, 1, "host.name", batch->host, strlen(batch->host)));
    TRY(w_kv_string(b, 1, "telemetry.sdk.name", "spanline", 8));
    return w_kv_string(b, 1, "telemetry.sdk.version", SL_VERSION, strlen(SL_VERSION));
}

/* ExportTraceServiceRequest { resource_spans = 1: ResourceSpans {
 *   resource = 1: Resource, scope_spans = 2: ScopeSpans {
 *     scope = 1: InstrumentationScope { name = 1, version = 2 }, spans = 2 } } } */
int sl_otlp_proto_request(sl_buf *out, const sl_otlp_batch *batch)
{
    sl_buf head = {0};
    size_t start = out->len;
    if (w_resource(&head, batch) != SL_OK) goto nomem;
    size_t res_len = head.len;
    size_t scope_len = 2 + 8 + 2 + strlen(SL_VERSION);   /* name "spanline", version */
    size_t ss_len = 1 + varint_len(scope_len) + scope_len + batch->spans.len;
    size_t rs_len = 1 + varint_len(res_len) + res_len + 1 + varint_len(ss_len) + ss_len;
    size_t total = 1 + varint_len(rs_len) + rs_len;
    if (sl_buf_reserve(out, total) != SL_OK) goto nomem;
    char *o = out->ptr + out->len;
    o = put_tag(o, 1, WT_LEN);
    o = put_varint(o, rs_len);
    o = put_tag(o, 1, WT_LEN);
    o = put_varint(o, res_len);
    memcpy(o, head.ptr, res_len);
    o += res_len;
    o = put_tag(o, 2, WT_LEN);
    o = put_varint(o, ss_len);
    o = put_tag(o, 1, WT_LEN);
    o = put_varint(o, scope_len);
    o = put_tag(o, 1, WT_LEN);
    o = put_varint(o, 8);
    memcpy(o, "spanline", 8);
    o += 8;
    o = put_tag(o, 2, WT_LEN);
    o = put_varint(o, strlen(SL_VERSION));
    memcpy(o, SL_VERSION, strlen(SL_VERSION));
    o += strlen(SL_VERSION);
    if (batch->spans.len) memcpy(o, batch->spans.ptr, batch->spans.len);
    o += batch->spans.len;
    out->len = (size_t)(o - out->ptr);
    sl_buf_free(&head);
    return SL_OK;
nomem:
    out->len = start;
    sl_buf_free(&head);
    return SL_ENOMEM;
}
