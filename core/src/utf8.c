/*
 * utf8.c: UTF-8 repair and cutting, for every writer (names, keys and
 * values go out as valid UTF-8 whatever came in), and code points to UTF-8
 * for the JSON reader (\u escapes). The per-character check they share is
 * inline in text.h.
 *
 * Key idea: invalid input is never refused, it is repaired: each maximal
 * invalid subsequence (overlong forms, surrogates, bytes past U+10FFFF,
 * cut sequences) becomes one U+FFFD, so a byte string and its repair differ
 * only where it was broken. Cutting to a length steps back to a sequence
 * start, so a cut never makes valid text invalid.
 */
#include "text.h"

void sl_utf8_sanitize_into(sl_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char *o = b->ptr + b->len;
    while (p < end) {
        if (*p < 0x80) *o++ = (char)*p++;
        else o = sl_utf8_copy_seq(o, &p, end);
    }
    b->len = (size_t)(o - b->ptr);
}

size_t sl_utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t cut = max;
    /* step back over continuation bytes, at most 3, to a sequence start */
    for (int i = 0; i < 3 && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80; i++) cut--;
    return cut;
}

char *sl_utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}
