/*
 * text.h: the core's text primitives, one of each, shared by every encoder
 * and decoder on the write side and the read side: the growable buffer
 * (buffer.c), hex (hex.c), UTF-8 (utf8.c) and error reporting (error.c);
 * the JSON value writer, the one writer of JSON text, is json.h.
 *
 * Key idea: writers size first, then write through a bare cursor (char *o):
 * a record's bound is reserved in an sl_buf once, so the per-value writers
 * below neither check room nor fail.
 */
#ifndef SL_TEXT_H
#define SL_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "spanline.h"

#if defined(__GNUC__) || defined(__clang__)
#define SL_PRINTF(fmt_arg, first_arg) __attribute__((format(printf, fmt_arg, first_arg)))
#else
#define SL_PRINTF(fmt_arg, first_arg)
#endif

/* Writes a string literal at cursor o; evaluates to the cursor after it. */
#define SL_PUT_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

/* ===== BUFFER (buffer.c) ===== */

/* Bytes at ptr[0, len), room for cap. A zeroed sl_buf is an empty one. */
typedef struct sl_buf {
    char *ptr;
    size_t len, cap;
    int fixed;      /* caller-owned storage that never grows (signal handlers) */
} sl_buf;

/* Makes room for n more bytes: SL_OK, or SL_ENOMEM (out of memory, or a
 * fixed buffer without the room) with b unchanged. */
int sl_buf_reserve(sl_buf *b, size_t n);
int sl_buf_append(sl_buf *b, const void *data, size_t n);
void sl_buf_free(sl_buf *b);

static inline int sl_buf_putc(sl_buf *b, char c)
{
    if (b->len == b->cap && sl_buf_reserve(b, 1) != SL_OK) return SL_ENOMEM;
    b->ptr[b->len++] = c;
    return SL_OK;
}

/* Output handed out in turns: the bytes written into *filled since the
 * last call go to the caller (in *handed, valid until the next call) and
 * the buffer handed out last time is emptied to be written into next.
 * Returns how many bytes are handed out. */
static inline size_t sl_buf_hand_out(sl_buf *filled, sl_buf *handed)
{
    sl_buf t = *handed;
    *handed = *filled;
    *filled = t;
    filled->len = 0;
    return handed->len;
}

/* ===== HEX (hex.c) =====
 * The one rule: hex is written in lowercase and read back in lowercase
 * only; 'A'..'F' are refused like any other non-digit. W3C trace-context
 * requires refusing uppercase in traceparent, every spanline writer writes
 * lowercase, and with one rule an id one reader accepts every reader does.
 * (JSON's \uXXXX escapes are not ids: RFC 8259 allows either case there, so
 * the JSON parser folds 'A'..'F' before it looks digits up here.) */

extern const char sl_hex_pairs[513];     /* "00".."ff": byte b at 2*b */
extern const uint8_t sl_hex_value[256];  /* a lowercase digit's value, else SL_HEX_BAD */
#define SL_HEX_BAD 0x10

#if defined(__SSE2__)
/* 16 bytes as 32 digits in one step: nibbles spread into bytes, '0' + n,
 * plus the gap to 'a' where n > 9 (an id: the encoder writes three per span). */
static inline void sl_hex_put16(char *o, const uint8_t *bytes)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)bytes);
    __m128i m = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    __m128i a = _mm_unpacklo_epi8(hi, lo), c = _mm_unpackhi_epi8(hi, lo);
    __m128i nine = _mm_set1_epi8(9), zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);
    a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
    c = _mm_add_epi8(_mm_add_epi8(c, zero), _mm_and_si128(_mm_cmpgt_epi8(c, nine), gap));
    _mm_storeu_si128((__m128i *)(void *)o, a);
    _mm_storeu_si128((__m128i *)(void *)(o + 16), c);
}
#endif

/* Writes 2*n lowercase digits (no NUL); returns the cursor after them. */
static inline char *sl_hex_put(char *o, const uint8_t *bytes, size_t n)
{
#if defined(__SSE2__)
    for (; n >= 16; n -= 16, bytes += 16, o += 32) sl_hex_put16(o, bytes);
#endif
    for (size_t i = 0; i < n; i++, o += 2) memcpy(o, sl_hex_pairs + 2 * bytes[i], 2);
    return o;
}

/* Decodes 2*n digits into n bytes: SL_OK, or SL_EPARSE when any of them is
 * not a lowercase hex digit (out is written either way). */
int sl_hex_decode(const char *s, size_t n, uint8_t *out);

/* ===== UTF-8 (utf8.c; the per-character check is inline: every writer
 * runs it on each non-ASCII character) ===== */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is
 * invalid; *bad is then the length of its maximal invalid subpart (what
 * one U+FFFD replaces, as the Unicode standard recommends). */
static inline size_t sl_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c < 0xC2) { *bad = 1; return 0; }
    if (c < 0xE0) need = 2;
    else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;        /* overlong */
        else if (c == 0xED) hi = 0x9F;   /* surrogates */
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;        /* overlong */
        else if (c == 0xF4) hi = 0x8F;   /* > U+10FFFF */
    } else { *bad = 1; return 0; }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) { *bad = i; return 0; }
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) { *bad = i; return 0; }
    }
    return need;
}

/* Copies the sequence at *p (a byte >= 0x80) to o, or U+FFFD for its
 * maximal invalid subpart; advances *p. Returns the cursor after it. */
static inline char *sl_utf8_copy_seq(char *o, const unsigned char **p, const unsigned char *end)
{
    size_t bad = 0, k = sl_utf8_seq(*p, (size_t)(end - *p), &bad);
    if (k) {
        memcpy(o, *p, k);
        *p += k;
        return o + k;
    }
    *p += bad;
    return SL_PUT_LIT(o, "\xEF\xBF\xBD");   /* U+FFFD */
}

/* Appends s with invalid UTF-8 replaced by U+FFFD (no escaping) into b's
 * spare room, which must hold 3 bytes per input byte. */
void sl_utf8_sanitize_into(sl_buf *b, const char *s, size_t n);
/* Longest prefix of s no longer than max that does not split a sequence. */
size_t sl_utf8_cut(const char *s, size_t n, size_t max);
/* Writes code point cp (< 0x110000) as UTF-8; returns the cursor after it. */
char *sl_utf8_put(char *o, unsigned cp);

/* ===== ERRORS (error.c) ===== */

/* Fills *err (when not NULL) with code, errno and a printf-style message. */
void sl_set_error(sl_error *err, sl_code code, int sys_errno, const char *fmt, ...) SL_PRINTF(4, 5);

#endif
