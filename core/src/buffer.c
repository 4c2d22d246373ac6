/*
 * buffer.c: the growable byte buffer (sl_buf) every encoder appends to and
 * every decoder keeps its scratch text in.
 *
 * Key idea: capacity doubles, from 256 bytes, so appends are amortised O(1)
 * and a small buffer (a span's text in the reader) stays small; a failed
 * growth leaves the buffer as it was, so a caller can report SL_ENOMEM and
 * carry on. A fixed buffer (caller storage, in a signal handler) never grows.
 */
#include <stdlib.h>

#include "text.h"

#define SL_BUF_MIN 256

int sl_buf_grow(sl_buf *b, size_t n)
{
    if (b->cap - b->len >= n) return SL_OK;
    if (b->fixed) return SL_ENOMEM;
    size_t cap = b->cap ? b->cap : SL_BUF_MIN;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) return SL_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->ptr, cap);
    if (!p) return SL_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return SL_OK;
}

int sl_buf_append(sl_buf *b, const void *data, size_t n)
{
    if (sl_buf_reserve(b, n) != SL_OK) return SL_ENOMEM;
    if (n) memcpy(b->ptr + b->len, data, n);
    b->len += n;
    return SL_OK;
}

void sl_buf_free(sl_buf *b)
{
    if (!b->fixed) free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}
