/*
 * otlp_batch.c: an OTLP request being filled (either encoding), the
 * attribute helpers both encoders share, and the collector URL.
 *
 * Key idea: a batch holds its spans already encoded, so adding a span is
 * one encoding and finishing is the envelope around bytes written once; a
 * key given twice on one span (a start attribute set again later) is
 * written once, with its last value, as OTLP wants keys unique.
 */
#include <stdlib.h>

#include "otlp.h"

void sl_otlp_batch_init(sl_otlp_batch *b, sl_otlp_format format)
{
    memset(b, 0, sizeof *b);
    b->format = format;
}

static int set_text(char **dst, const char *s, size_t n)
{
    char *copy = NULL;
    if (s && n) {
        if (!(copy = malloc(n + 1))) return SL_ENOMEM;
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    free(*dst);
    *dst = copy;
    return SL_OK;
}

int sl_otlp_batch_resource(sl_otlp_batch *b, const char *service, size_t service_len,
                           const char *host, size_t host_len)
{
    if (set_text(&b->service, service, service_len) != SL_OK) return SL_ENOMEM;
    return set_text(&b->host, host, host_len);
}

int sl_otlp_batch_add(sl_otlp_batch *b, const sl_otlp_span *s)
{
    size_t before = b->spans.len;
    int rc;
    if (b->format == SL_OTLP_JSON) {
        rc = sl_buf_putc(&b->spans, ',');
        if (rc == SL_OK) rc = sl_otlp_json_span(&b->spans, s);
    } else {
        rc = sl_otlp_proto_span(&b->spans, &b->scratch, s);
    }
    if (rc != SL_OK) {
        b->spans.len = before;
        return SL_ENOMEM;
    }
    b->nspans++;
    return SL_OK;
}

int sl_otlp_batch_finish(sl_otlp_batch *b, sl_buf *out)
{
    int rc = b->format == SL_OTLP_JSON ? sl_otlp_json_request(out, b) : sl_otlp_proto_request(out, b);
    if (rc != SL_OK) return rc;
    b->spans.len = 0;
    b->nspans = 0;
    return SL_OK;
}

void sl_otlp_batch_free(sl_otlp_batch *b)
{
    sl_buf_free(&b->spans);
    sl_buf_free(&b->scratch);
    free(b->service);
    free(b->host);
    b->service = b->host = NULL;
}

/* ===== ATTRIBUTES ===== */

const char *sl_attr_skip(const char *p)
{
    sl_aview a;
    p = sl_attr_read(p, &a);
    if (a.type == SL_ATTR_ARRAY)
        for (size_t j = 0; j < a.len; j++) p = sl_attr_read(p, &(sl_aview){0});
    return p;
}

int sl_attr_shadowed(const char *p, uint32_t n)
{
    sl_aview a;
    sl_attr_read(p, &a);
    p = sl_attr_skip(p);
    for (uint32_t i = 1; i < n; i++) {
        sl_aview b;
        sl_attr_read(p, &b);
        if (b.key_len == a.key_len && memcmp(b.key, a.key, a.key_len) == 0) return 1;
        p = sl_attr_skip(p);
    }
    return 0;
}

/* ===== URL ===== */

char *sl_otlp_url(const char *spec)
{
    if (!spec) return NULL;
    if (strncmp(spec, "otlp+", 5) == 0) spec += 5;
    size_t scheme = strncmp(spec, "http://", 7) == 0 ? 7 : strncmp(spec, "https://", 8) == 0 ? 8 : 0;
    if (!scheme || !spec[scheme] || spec[scheme] == '/') return NULL;
    const char *path = strchr(spec + scheme, '/');
    size_t n = strlen(spec);
    const char *add = path && path[1] ? "" : path ? "v1/traces" : "/v1/traces";
    char *url = malloc(n + strlen(add) + 1);
    if (!url) return NULL;
    memcpy(url, spec, n);
    strcpy(url + n, add);
    return url;
}
