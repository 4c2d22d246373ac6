/*
 * fuzz_traceparent.c: libFuzzer harness for the W3C traceparent parser.
 *
 * Any bytes may be parsed; an accepted header must format back to a valid
 * version-00 header that parses to the same context, and a version-00 input
 * of exactly 55 characters must round-trip byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spanline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    sl_context ctx;
    memset(&ctx, 0xab, sizeof ctx);
    int rc = sl_traceparent_parse(copy, size, &ctx);
    if (rc != SL_OK && rc != SL_EPARSE && rc != SL_EINVAL) abort();
    if (rc == SL_OK) {
        if (sl_id_is_zero(&ctx.trace)) abort();
        char out[SL_TRACEPARENT_LEN + 1];
        memset(out, 'x', sizeof out);
        sl_traceparent_format(&ctx, out);
        if (strlen(out) != SL_TRACEPARENT_LEN) abort();
        if (memcmp(out, "00-", 3) != 0 || out[35] != '-' || out[52] != '-') abort();
        if (!lower_hex(out + 3, 32) || !lower_hex(out + 36, 16) || !lower_hex(out + 53, 2)) abort();
        sl_context again;
        if (sl_traceparent_parse(out, SL_TRACEPARENT_LEN, &again) != SL_OK) abort();
        if (memcmp(&again.trace, &ctx.trace, sizeof ctx.trace) != 0) abort();
        if (memcmp(again.span.bytes + 8, ctx.span.bytes + 8, 8) != 0) abort();
        if (again.flags != ctx.flags) abort();
        if (size == SL_TRACEPARENT_LEN && memcmp(copy, "00-", 3) == 0 &&
            memcmp(copy, out, SL_TRACEPARENT_LEN) != 0) abort();
    }
    /* the hex id parser sees the same bytes */
    sl_id id;
    if (sl_id_from_hex(copy, size, &id) == SL_OK) {
        char hex[33];
        sl_id_to_hex(&id, hex);
        if (size == 32 && memcmp(hex, copy, 32) != 0 && lower_hex(copy, 32)) abort();
    }
    free(copy);
    return 0;
}
