/*
 * swar.h: eight bytes at a time in one 64-bit word ("SIMD within a
 * register"), for the read side's scanners: finding a byte (quotes,
 * backslashes), counting leading digits, decoding digits and hex.
 *
 * Key idea: the first byte of the input is the lowest byte of the word
 * (little-endian loads), so "the first byte that matches" is the lowest
 * flagged byte, found by counting trailing zeros. Each flag below is exact
 * at the lowest match (a borrow can only create false flags above a true
 * one), which is all a scanner asks. Where SL_SWAR is 0 (big-endian, or no
 * GCC builtins) callers take their byte-at-a-time loops.
 */
#ifndef SL_SWAR_H
#define SL_SWAR_H

#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SL_SWAR 1
#else
#define SL_SWAR 0
#endif

#define SL_SWAR_ONES 0x0101010101010101ull
#define SL_SWAR_HIGHS 0x8080808080808080ull
/* b repeated in every byte */
#define SL_SWAR_REP(b) (SL_SWAR_ONES * (uint8_t)(b))

static inline uint64_t sl_swar_load(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* The high bit of each byte that is zero (exact at the lowest one). */
static inline uint64_t sl_swar_zero(uint64_t w)
{
    return (w - SL_SWAR_ONES) & ~w & SL_SWAR_HIGHS;
}

/* The high bit of each byte equal to b (exact at the lowest one). */
static inline uint64_t sl_swar_eq(uint64_t w, uint8_t b)
{
    return sl_swar_zero(w ^ SL_SWAR_REP(b));
}

#if SL_SWAR
/* Index (0..7) of the lowest flagged byte; flags must not be 0. */
static inline unsigned sl_swar_first(uint64_t flags)
{
    return (unsigned)__builtin_ctzll(flags) >> 3;
}
#endif

/* The high bit of each byte that is not an ASCII digit, exact: a byte is a
 * digit when its high nibble is 3 and adding 6 keeps it 3 (0x30..0x39). A
 * carry out of a byte >= 0xFA can only disturb bytes above it, which come
 * after a non-digit. */
static inline uint64_t sl_swar_nondigits(uint64_t w)
{
    uint64_t x = ((w & SL_SWAR_REP(0xF0)) ^ SL_SWAR_REP(0x30)) |
                 (((w + SL_SWAR_REP(0x06)) & SL_SWAR_REP(0xF0)) ^ SL_SWAR_REP(0x30));
    return (((x & ~SL_SWAR_HIGHS) + ~SL_SWAR_HIGHS) | x) & SL_SWAR_HIGHS;
}

/* The value of eight ASCII digits, the first one (lowest byte) most
 * significant; a zero byte counts as a leading 0: pairs, then quads, then
 * the two halves, each step one multiply (as simdjson parses them). */
static inline uint32_t sl_swar_eight_digits(uint64_t w)
{
    w = ((w & SL_SWAR_REP(0x0F)) * 2561) >> 8;
    w = ((w & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
    return (uint32_t)(((w & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32);
}

#endif
