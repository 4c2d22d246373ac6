/*
 * fuzz_json_text.c: libFuzzer harness for the JSON text read outside the
 * stream reader: attribute objects turned into ring-layout attributes
 * (sl_attrs_from_json, used by convert and export on every read record),
 * the one string decoder (sl_json_unescape) and a collector's partial
 * success (sl_otlp_rejected_json / _proto, network input).
 *
 * Any bytes may come in. Accepted attributes must walk back inside the
 * buffer they were written to, each key and string within it, arrays of
 * scalars only; a decoded string is never longer than its text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_curl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(const sl_buf *b, const char *p, size_t n)
{
    return p >= b->ptr && n <= b->len && (size_t)(p - b->ptr) <= b->len - n;
}

static void check_attrs(const char *json, size_t size)
{
    sl_buf blob = {0};
    uint32_t n = 0;
    int rc = sl_attrs_from_json(json, size, &blob, &n);
    if (rc != SL_OK && rc != SL_EPARSE && rc != SL_ENOMEM) abort();
    if (rc == SL_OK) {
        const char *p = blob.ptr;
        for (uint32_t i = 0; i < n; i++) {
            sl_aview a;
            p = sl_attr_read(p, &a);
            if (!inside(&blob, a.key, a.key_len)) abort();
            if (a.type == SL_ATTR_STRING && !inside(&blob, a.s, a.len)) abort();
            if (a.type == SL_ATTR_ARRAY) {
                for (size_t j = 0; j < a.len; j++) {
                    sl_aview item;
                    p = sl_attr_read(p, &item);
                    if (item.type == SL_ATTR_ARRAY) abort();
                    if (item.type == SL_ATTR_STRING && !inside(&blob, item.s, item.len)) abort();
                }
            }
            if (p > blob.ptr + blob.len) abort();
        }
        if (p != blob.ptr + blob.len) abort();
    }
    sl_buf_free(&blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    check_attrs(text, size);

    char *out = malloc(size ? size : 1), *end = NULL;
    if (out) {
        const char *next = sl_json_unescape(text, text + size, out, &end);
        if (next && (next < text + 1 || next > text + size || end < out || (size_t)(end - out) > size)) abort();
        free(out);
    }
    (void)sl_otlp_rejected_json(text, size);
    (void)sl_otlp_rejected_proto(text, size);
    free(text);
    return 0;
}
