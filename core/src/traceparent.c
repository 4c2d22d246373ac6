/*
 * traceparent.c: W3C Trace Context `traceparent` header parse and format.
 *
 * Key idea: a remote parent is known only by its 8-byte span-id, which we
 * keep in bytes 8..15 of an sl_id (the tail of our own ids is what we hand
 * out as span-id), and mark the context remote.
 */
#include "internal.h"

static int lhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;   /* the spec allows lowercase only */
}

static int parse_hex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        int h = lhex(s[2 * i]), l = lhex(s[2 * i + 1]);
        if (h < 0 || l < 0) return -1;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return 0;
}

int sl_traceparent_parse(const char *s, size_t len, sl_context *out)
{
    uint8_t version, flags;
    sl_context ctx;
    memset(&ctx, 0, sizeof ctx);
    if (!s || !out || len < SL_TRACEPARENT_LEN) return SL_EPARSE;
    if (parse_hex(s, 2, &version) != 0 || version == 0xff) return SL_EPARSE;
    if (version == 0 && len != SL_TRACEPARENT_LEN) return SL_EPARSE;
    /* future versions may append fields after another '-' */
    if (len > SL_TRACEPARENT_LEN && s[SL_TRACEPARENT_LEN] != '-') return SL_EPARSE;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-') return SL_EPARSE;
    if (parse_hex(s + 3, 32, ctx.trace.bytes) != 0) return SL_EPARSE;
    if (parse_hex(s + 36, 16, ctx.span.bytes + 8) != 0) return SL_EPARSE;
    if (parse_hex(s + 53, 2, &flags) != 0) return SL_EPARSE;
    if (sl_id_is_zero(&ctx.trace) || sl_id_is_zero(&ctx.span)) return SL_EPARSE;
    ctx.flags = flags;
    ctx.remote = 1;
    *out = ctx;
    return SL_OK;
}

void sl_traceparent_format(const sl_context *ctx, char out[SL_TRACEPARENT_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    char *p = out;
    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    for (int i = 0; i < 16; i++) {
        *p++ = hx[ctx->trace.bytes[i] >> 4];
        *p++ = hx[ctx->trace.bytes[i] & 15];
    }
    *p++ = '-';
    for (int i = 8; i < 16; i++) {
        *p++ = hx[ctx->span.bytes[i] >> 4];
        *p++ = hx[ctx->span.bytes[i] & 15];
    }
    *p++ = '-';
    *p++ = hx[ctx->flags >> 4];
    *p++ = hx[ctx->flags & 15];
    *p = '\0';
}
