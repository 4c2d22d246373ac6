/*
 * otlp_json.c: the OTLP/HTTP JSON encoder: spans as an
 * ExportTraceServiceRequest in the protobuf JSON mapping OTLP specifies
 * (camelCase names, hex trace and span ids, 64-bit integers and
 * nanosecond timestamps as decimal strings, enums as numbers).
 *
 * Key idea: the same fields in the same order as otlp_proto.c, through the
 * core's one JSON value writer (text.h), so both encodings carry the same
 * values: strings UTF-8-checked, doubles in their shortest exact form, NaN
 * and the infinities as the strings protobuf's JSON mapping uses.
 */
#include "json.h"
#include "otlp.h"

#define LIT(b, s) sl_buf_append((b), (s), sizeof(s) - 1)
#define TRY(x) do { if ((x) != SL_OK) return SL_ENOMEM; } while (0)

static int str(sl_buf *b, const char *s, size_t n, int cut)
{
    TRY(sl_buf_reserve(b, SL_JSON_STR_BOUND(n)));
    b->len = (size_t)(sl_json_str(b->ptr + b->len, s, n, cut) - b->ptr);
    return SL_OK;
}

/* An integer, quoted as protobuf's JSON mapping writes int64 and fixed64
 * ("1764000000000000000") or bare (flags, a uint32). */
static int integer(sl_buf *b, int64_t v, int quoted)
{
    TRY(sl_buf_reserve(b, SL_JSON_SCALAR_BOUND));
    char *o = b->ptr + b->len;
    if (quoted) *o++ = '"';
    o = sl_json_i64(o, v);
    if (quoted) *o++ = '"';
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

/* A nanosecond timestamp (fixed64: quoted). */
static int ns(sl_buf *b, uint64_t v)
{
    TRY(sl_buf_reserve(b, SL_JSON_SCALAR_BOUND));
    char *o = b->ptr + b->len;
    *o++ = '"';
    o = sl_json_u64(o, v);
    *o++ = '"';
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

static int hex(sl_buf *b, const uint8_t *bytes, size_t n)
{
    TRY(sl_buf_reserve(b, 2 * n + 2));
    char *o = b->ptr + b->len;
    *o++ = '"';
    o = sl_hex_put(o, bytes, n);
    *o++ = '"';
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

/* ===== ATTRIBUTES ===== */

static int scalar(sl_buf *b, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING:
        TRY(LIT(b, "{\"stringValue\":"));
        TRY(str(b, a->s, a->len, a->trunc));
        break;
    case SL_ATTR_INT:
        TRY(LIT(b, "{\"intValue\":"));
        TRY(integer(b, a->i, 1));
        break;
    case SL_ATTR_DOUBLE:
        TRY(LIT(b, "{\"doubleValue\":"));
        TRY(sl_buf_reserve(b, SL_JSON_SCALAR_BOUND));
        b->len = (size_t)(sl_json_double(b->ptr + b->len, a->d) - b->ptr);
        break;
    case SL_ATTR_BOOL:
        TRY(a->len ? LIT(b, "{\"boolValue\":true") : LIT(b, "{\"boolValue\":false"));
        break;
    default:
        TRY(LIT(b, "{"));
    }
    return sl_buf_putc(b, '}');
}

/* {"key":...,"value":{...}} for the attribute at p; returns the position
 * after it, NULL on ENOMEM. */
static const char *kv(sl_buf *b, const char *p)
{
    sl_aview a;
    p = sl_attr_read(p, &a);
    if (LIT(b, "{\"key\":") != SL_OK || str(b, a.key, a.key_len, 0) != SL_OK ||
        LIT(b, ",\"value\":") != SL_OK)
        return NULL;
    if (a.type == SL_ATTR_ARRAY) {
        if (LIT(b, "{\"arrayValue\":{\"values\":[") != SL_OK) return NULL;
        for (size_t j = 0; j < a.len; j++) {
            sl_aview it;
            p = sl_attr_read(p, &it);
            if ((j && sl_buf_putc(b, ',') != SL_OK) || scalar(b, &it) != SL_OK) return NULL;
        }
        if (LIT(b, "]}}") != SL_OK) return NULL;
    } else if (scalar(b, &a) != SL_OK) {
        return NULL;
    }
    return sl_buf_putc(b, '}') == SL_OK ? p : NULL;
}

static int kv_true(sl_buf *b, int *first, const char *key)
{
    TRY(*first ? SL_OK : sl_buf_putc(b, ','));
    *first = 0;
    TRY(LIT(b, "{\"key\":"));
    TRY(str(b, key, strlen(key), 0));
    return LIT(b, ",\"value\":{\"boolValue\":true}}");
}

/* "attributes":[...] (the last of equal keys only), then extra. */
static int attrs(sl_buf *b, const char *p, uint32_t n, int *first)
{
    for (uint32_t i = 0; i < n; i++) {
        if (sl_attr_shadowed(p, n - i)) {
            p = sl_attr_skip(p);
            continue;
        }
        TRY(*first ? SL_OK : sl_buf_putc(b, ','));
        *first = 0;
        if (!(p = kv(b, p))) return SL_ENOMEM;
    }
    return SL_OK;
}

/* ===== SPANS ===== */

int sl_otlp_json_span(sl_buf *b, const sl_otlp_span *s)
{
    size_t start = b->len;
    int first = 1;
    if (LIT(b, "{\"traceId\":") != SL_OK || hex(b, s->trace.bytes, 16) != SL_OK ||
        LIT(b, ",\"spanId\":") != SL_OK || hex(b, s->id.bytes + 8, 8) != SL_OK)
        goto nomem;
    if (s->has_parent &&
        (LIT(b, ",\"parentSpanId\":") != SL_OK || hex(b, s->parent.bytes + 8, 8) != SL_OK))
        goto nomem;
    /* W3C trace flags (sampled) | HAS_IS_REMOTE | IS_REMOTE of the parent */
    if (LIT(b, ",\"flags\":") != SL_OK ||
        integer(b, 0x101 | (s->has_parent && s->parent_remote ? 0x200 : 0), 0) != SL_OK ||
        LIT(b, ",\"name\":") != SL_OK || str(b, s->name, s->name_len, 0) != SL_OK ||
        LIT(b, ",\"kind\":") != SL_OK || integer(b, s->kind ? s->kind : 1, 0) != SL_OK ||
        LIT(b, ",\"startTimeUnixNano\":") != SL_OK || ns(b, s->start) != SL_OK ||
        LIT(b, ",\"endTimeUnixNano\":") != SL_OK || ns(b, s->end) != SL_OK ||
        LIT(b, ",\"attributes\":[") != SL_OK || attrs(b, s->attrs, s->nattrs, &first) != SL_OK)
        goto nomem;
    if (s->lane > 0) {
        if ((first ? SL_OK : sl_buf_putc(b, ',')) != SL_OK ||
            LIT(b, "{\"key\":\"spanline.lane\",\"value\":{\"intValue\":") != SL_OK ||
            integer(b, s->lane, 1) != SL_OK || LIT(b, "}}") != SL_OK)
            goto nomem;
        first = 0;
    }
    if (s->status == SL_STATUS_ABANDONED && kv_true(b, &first, "spanline.abandoned") != SL_OK) goto nomem;
    if (s->status == SL_OTLP_OPEN && kv_true(b, &first, "spanline.open") != SL_OK) goto nomem;
    if (LIT(b, "],\"events\":[") != SL_OK) goto nomem;
    for (size_t i = 0; i < s->nevents; i++) {
        const sl_otlp_event *e = &s->events[i];
        int efirst = 1;
        if ((i && sl_buf_putc(b, ',') != SL_OK) || LIT(b, "{\"timeUnixNano\":") != SL_OK ||
            ns(b, e->ts) != SL_OK || LIT(b, ",\"name\":") != SL_OK ||
            str(b, e->name, e->name_len, 0) != SL_OK || LIT(b, ",\"attributes\":[") != SL_OK ||
            attrs(b, e->attrs, e->nattrs, &efirst) != SL_OK || LIT(b, "]}") != SL_OK)
            goto nomem;
    }
    if (LIT(b, "],\"status\":{") != SL_OK) goto nomem;
    if (s->status == SL_STATUS_ERROR) {
        if (s->error_len &&
            (LIT(b, "\"message\":") != SL_OK || str(b, s->error, s->error_len, 0) != SL_OK ||
             sl_buf_putc(b, ',') != SL_OK))
            goto nomem;
        if (LIT(b, "\"code\":2") != SL_OK) goto nomem;
    }
    if (LIT(b, "}}") != SL_OK) goto nomem;
    return SL_OK;
nomem:
    b->len = start;
    return SL_ENOMEM;
}

/* ===== REQUEST ===== */

static int resource_kv(sl_buf *b, const char *key, const char *value, int comma)
{
    TRY(comma ? sl_buf_putc(b, ',') : SL_OK);
    TRY(LIT(b, "{\"key\":"));
    TRY(str(b, key, strlen(key), 0));
    TRY(LIT(b, ",\"value\":{\"stringValue\":"));
    TRY(str(b, value, strlen(value), 0));
    return LIT(b, "}}");
}

/* {"resourceSpans":[{"resource":{...},"scopeSpans":[{"scope":{...},"spans":[...]}]}]}
 * with the batch's spans, which it keeps as ",{...},{...}". */
int sl_otlp_json_request(sl_buf *b, const sl_otlp_batch *batch)
{
    size_t start = b->len;
    if (LIT(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[") != SL_OK ||
        resource_kv(b, "service.name", batch->service ? batch->service : "unknown_service", 0) != SL_OK ||
        (batch->host && resource_kv(b, "host.name", batch->host, 1) != SL_OK) ||
        resource_kv(b, "telemetry.sdk.name", "spanline", 1) != SL_OK ||
        resource_kv(b, "telemetry.sdk.version", SL_VERSION, 1) != SL_OK ||
        LIT(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"spanline\",\"version\":\"" SL_VERSION
               "\"},\"spans\":[") != SL_OK ||
        (batch->spans.len && sl_buf_append(b, batch->spans.ptr + 1, batch->spans.len - 1) != SL_OK) ||
        LIT(b, "]}]}]}") != SL_OK) {
        b->len = start;
        return SL_ENOMEM;
    }
    return SL_OK;
}
