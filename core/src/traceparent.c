/*
 * traceparent.c: W3C Trace Context `traceparent` header parse and format.
 *
 * Key idea: a remote parent is known only by its 8-byte span-id, which we
 * keep in bytes 8..15 of an sl_id (the tail of our own ids is what we hand
 * out as span-id), and mark the context remote. Hex is the core's one codec
 * (hex.c), whose lowercase-only rule is the one the spec requires.
 */
#include "internal.h"

int sl_traceparent_parse(const char *s, size_t len, sl_context *out)
{
    uint8_t version, flags;
    sl_context ctx;
    memset(&ctx, 0, sizeof ctx);
    if (!s || !out || len < SL_TRACEPARENT_LEN) return SL_EPARSE;
    if (sl_hex_decode(s, 1, &version) != SL_OK || version == 0xff) return SL_EPARSE;
    if (version == 0 && len != SL_TRACEPARENT_LEN) return SL_EPARSE;
    /* future versions may append fields after another '-' */
    if (len > SL_TRACEPARENT_LEN && s[SL_TRACEPARENT_LEN] != '-') return SL_EPARSE;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-') return SL_EPARSE;
    if (sl_hex_decode(s + 3, 16, ctx.trace.bytes) != SL_OK) return SL_EPARSE;
    if (sl_hex_decode(s + 36, 8, ctx.span.bytes + 8) != SL_OK) return SL_EPARSE;
    if (sl_hex_decode(s + 53, 1, &flags) != SL_OK) return SL_EPARSE;
    if (sl_id_is_zero(&ctx.trace) || sl_id_is_zero(&ctx.span)) return SL_EPARSE;
    ctx.flags = flags;
    ctx.remote = 1;
    *out = ctx;
    return SL_OK;
}

void sl_traceparent_format(const sl_context *ctx, char out[SL_TRACEPARENT_LEN + 1])
{
    char *p = SL_PUT_LIT(out, "00-");
    p = sl_hex_put(p, ctx->trace.bytes, 16);
    *p++ = '-';
    p = sl_hex_put(p, ctx->span.bytes + 8, 8);
    *p++ = '-';
    p = sl_hex_put(p, &ctx->flags, 1);
    *p = '\0';
}
