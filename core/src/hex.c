/*
 * hex.c: the one hex codec (ids in JSONL, traceparent fields, binary attribute
 * values), and the public sl_id_to_hex / sl_id_from_hex built on it.
 *
 * Key idea: both directions are table lookups: a byte is written as its
 * two-digit entry in sl_hex_pairs, and digits are read through sl_hex_value,
 * whose out-of-range marker is OR-ed over the whole input and checked once,
 * so decoding has no branch per digit; where SSE2 is there, ids go sixteen
 * digits per step under the same rule. The case rule (lowercase only, both
 * ways) is written down once, in text.h.
 */
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "text.h"

const char sl_hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

#define B16 SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, \
            SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, \
            SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD
const uint8_t sl_hex_value[256] = {
    B16, B16, B16,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9,                     /* '0'..'9' */
    SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD,
    B16, B16,                                         /* uppercase: refused */
    SL_HEX_BAD, 10, 11, 12, 13, 14, 15,               /* 'a'..'f' */
    SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD,
    SL_HEX_BAD, SL_HEX_BAD, SL_HEX_BAD,
    B16,
    B16, B16, B16, B16, B16, B16, B16, B16,
};
#undef B16

#if defined(__SSE2__)
/* Sixteen lowercase digits -> eight bytes at out; nonzero when one of them
 * is no such digit. Each byte is tested against '0'..'9' and 'a'..'f'
 * (signed compares: a byte >= 0x80 is below both), its value is its low
 * nibble, plus 9 for a letter; then each pair of nibbles becomes a 16-bit
 * lane's low byte, and the lanes are packed. */
static int hex16(const char *s, uint8_t *out)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i af = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('f' + 1)));
    int ok = _mm_movemask_epi8(_mm_or_si128(digit, af)) == 0xffff;
    __m128i v = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)), _mm_and_si128(af, _mm_set1_epi8(9)));
    __m128i pairs = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x00ff)), 4), _mm_srli_epi16(v, 8));
    _mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(pairs, pairs));
    return !ok;
}
#endif

int sl_hex_decode(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned bad = 0;
    size_t i = 0;
#if defined(__SSE2__)
    int wide_bad = 0;
    for (; i + 8 <= n; i += 8) wide_bad |= hex16(s + 2 * i, out + i);
    if (wide_bad) bad = SL_HEX_BAD;
#endif
    for (; i < n; i++) {
        unsigned hi = sl_hex_value[u[2 * i]], lo = sl_hex_value[u[2 * i + 1]];
        bad |= hi | lo;
        out[i] = (uint8_t)(hi << 4 | (lo & 15));
    }
    return bad & SL_HEX_BAD ? SL_EPARSE : SL_OK;
}

void sl_id_to_hex(const sl_id *id, char out[33])
{
    *sl_hex_put(out, id->bytes, 16) = '\0';
}

int sl_id_from_hex(const char *hex, size_t len, sl_id *out)
{
    sl_id id;
#if defined(__SSE2__)
    if (hex && len == 32) {   /* the common case, in two steps */
        if (hex16(hex, id.bytes) | hex16(hex + 16, id.bytes + 8)) return SL_EPARSE;
        *out = id;
        return SL_OK;
    }
#endif
    if (!hex || (len != 32 && len != 16)) return SL_EPARSE;
    size_t off = len == 32 ? 0 : 8;
    memset(id.bytes, 0, off);
    if (sl_hex_decode(hex, len / 2, id.bytes + off) != SL_OK) return SL_EPARSE;
    *out = id;
    return SL_OK;
}
