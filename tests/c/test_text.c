/*
 * test_text.c: the core's one of each text primitive: hex (one case rule
 * for every reader of ids: the public parser, traceparent, JSONL and
 * MessagePack input), the JSON value writer (escapes, U+FFFD, shortest
 * doubles), UTF-8 cutting and the growable buffer.
 *
 * Regression: sl_id_from_hex accepted uppercase while traceparent and the
 * stream reader refused it. The JSON string decoder (sl_json_unescape) is
 * the one the JSONL reader and the read records' attribute text share.
 */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "json.h"
#include "reader_internal.h"
#include "spanline.h"

/* ===== HEX ===== */

static void test_hex_digits(void)
{
    /* every byte value at every place: exactly '0'..'9' and 'a'..'f' pass */
    int accepted = 0, refused = 0;
    for (int c = 0; c < 256; c++) {
        int valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        for (int pos = 0; pos < 32; pos++) {
            char s[32];
            uint8_t out[16];
            memset(s, '7', sizeof s);
            s[pos] = (char)c;
            int rc = sl_hex_decode(s, 16, out);
            if (valid && rc == SL_OK) accepted++;
            if (!valid && rc == SL_EPARSE) refused++;
        }
    }
    CHECK_EQ_INT(accepted, 16 * 32);
    CHECK_EQ_INT(refused, 240 * 32);
    /* every byte survives put + decode */
    uint8_t all[256], back[256];
    char digits[512];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    CHECK(sl_hex_put(digits, all, 256) == digits + 512);
    CHECK(memcmp(digits, "000102", 6) == 0 && memcmp(digits + 506, "fdfeff", 6) == 0);
    CHECK_EQ_INT(sl_hex_decode(digits, 256, back), SL_OK);
    CHECK(memcmp(all, back, 256) == 0);
}

/* Does each reader of ids accept this 32-digit id? */
static int public_parser_accepts(const char *hex)
{
    sl_id id;
    return sl_id_from_hex(hex, 32, &id) == SL_OK;
}

static int traceparent_accepts(const char *hex)
{
    char tp[64];
    snprintf(tp, sizeof tp, "00-%s-00f067aa0ba902b7-01", hex);
    sl_context c;
    return sl_traceparent_parse(tp, strlen(tp), &c) == SL_OK;
}

static int read_one(const char *data, size_t len)
{
    sl_reader *r = sl_reader_open_mem(data, len, NULL, NULL);
    sl_record rec;
    int ok = sl_reader_next(r, &rec) == SL_OK;
    sl_reader_close(r);
    return ok;
}

static int jsonl_accepts(const char *hex, int encoder_layout)
{
    char line[256];
    snprintf(line, sizeof line, "{%s\"type\":\"end\",\"id\":\"%s\",\"ts\":1,\"status\":\"ok\"}\n",
             encoder_layout ? "" : " ", hex);
    return read_one(line, strlen(line));
}

static int msgpack_accepts(const char *hex)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    const char *kv[] = {"type", "end", "id", hex, "ts", NULL, "status", "ok"};
    for (int i = 0; i < 8; i++) {
        if (!kv[i]) {
            msgpack_pack_uint64(&pk, 1);
            continue;
        }
        msgpack_pack_str(&pk, strlen(kv[i]));
        msgpack_pack_str_body(&pk, kv[i], strlen(kv[i]));
    }
    int ok = read_one(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return ok;
}

static void test_hex_one_rule(void)
{
    static const struct { const char *hex; int valid; } ids[] = {
        {"4bf92f3577b34da6a3ce929d0e0e4736", 1},
        {"4BF92F3577B34DA6A3CE929D0E0E4736", 0},   /* uppercase */
        {"4bf92f3577b34da6a3ce929d0e0e473F", 0},   /* one uppercase digit */
        {"4bf92f3577b34da6a3ce929d0e0e473g", 0},
        {"4bf92f3577b34da6a3ce929d0e0e473 ", 0},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *h = ids[i].hex;
        CHECK_EQ_INT(public_parser_accepts(h), ids[i].valid);
        CHECK_EQ_INT(traceparent_accepts(h), ids[i].valid);
        CHECK_EQ_INT(jsonl_accepts(h, 1), ids[i].valid);
        CHECK_EQ_INT(jsonl_accepts(h, 0), ids[i].valid);
        CHECK_EQ_INT(msgpack_accepts(h), ids[i].valid);
    }
    sl_id id;
    CHECK_EQ_INT(sl_id_from_hex("00F067AA0BA902B7", 16, &id), SL_EPARSE);
    CHECK_EQ_INT(sl_id_from_hex("00f067aa0ba902b7", 16, &id), SL_OK);
    char hex[33];
    sl_id_to_hex(&id, hex);
    CHECK_EQ_STR(hex, "000000000000000000f067aa0ba902b7");
}

/* ===== JSON WRITER ===== */

static void check_double(double d, const char *want)
{
    char out[SL_JSON_SCALAR_BOUND + 1];
    *sl_json_double(out, d) = '\0';
    if (strcmp(out, want) != 0) fprintf(stderr, "double %.17g: got %s, want %s\n", d, out, want);
    CHECK_EQ_STR(out, want);
}

/* The rule, spelled out with printf: integral values below 1e15 as
 * integers, else the shortest of %.15g / %.17g that reads back. */
static void reference_double(double d, char *out, size_t cap)
{
    if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
        snprintf(out, cap, "%s%lld", d == 0 && signbit(d) ? "-" : "", (long long)d);
        return;
    }
    snprintf(out, cap, "%.15g", d);
    if (strtod(out, NULL) != d) snprintf(out, cap, "%.17g", d);
}

static int same_as_reference(double d)
{
    char got[SL_JSON_SCALAR_BOUND + 1], want[64];
    *sl_json_double(got, d) = '\0';
    reference_double(d, want, sizeof want);
    if (strcmp(got, want) == 0) return 1;
    fprintf(stderr, "double %.17g: got %s, the rule says %s\n", d, got, want);
    return 0;
}

/* The printf-free path for short decimals prints what the rule prints. */
static void test_json_short_decimals(void)
{
    static const double edges[] = {1e-4, 1.0000000000000002e-4, 9.9999999999999991e-5, 0.00012,
                                   99999999999999.9, 99999999999999.99, 1e14 - 1, 123456789012.345,
                                   0.1 + 0.2, 0.3, 2.675, 1.005, 9.995, 0.000123456789012345};
    int same = 0, tried = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        same += same_as_reference(edges[i]) + same_as_reference(-edges[i]);
        tried += 2;
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int digits = 1 + (int)(x % 17), k = 1 + (int)((x >> 8) % 17);
        double m = (double)((x >> 16) % (uint64_t)pow10[digits]);
        double d = m / pow10[k];
        same += same_as_reference(i & 1 ? -d : d);
        tried++;
    }
    CHECK_EQ_INT(same, tried);
}

static void test_json_doubles(void)
{
    check_double(0.1, "0.1");
    check_double(1.5, "1.5");
    check_double(0.1 + 0.2, "0.30000000000000004");
    check_double(1.0 / 3, "0.33333333333333331");
    check_double(100, "100");
    check_double(-2, "-2");
    check_double(-0.0, "-0");
    check_double(1e300, "1e+300");
    check_double(5e-324, "4.94065645841247e-324");   /* the 15 digits read back */
    check_double(NAN, "\"NaN\"");
    check_double(INFINITY, "\"Infinity\"");
    check_double(-INFINITY, "\"-Infinity\"");
    /* any finite double reads back exactly, within the bound */
    uint64_t x = 88172645463325252ull;
    int exact = 0, tried = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, 8);
        if (!isfinite(d)) continue;
        char out[SL_JSON_SCALAR_BOUND + 1];
        char *e = sl_json_double(out, d);
        *e = '\0';
        tried++;
        if (e - out <= 24 && strtod(out, NULL) == d && same_as_reference(d)) exact++;
    }
    CHECK_EQ_INT(exact, tried);
}

static void check_str(const char *in, size_t n, int cut, const char *want)
{
    char out[256];
    char *e = sl_json_str(out, in, n, cut);
    CHECK((size_t)(e - out) <= SL_JSON_STR_BOUND(n));
    *e = '\0';
    CHECK_EQ_STR(out, want);
}

static void test_json_strings(void)
{
    check_str("plain", 5, 0, "\"plain\"");
    check_str("a\"b\\c/\n\t\r\b\f", 11, 0, "\"a\\\"b\\\\c/\\n\\t\\r\\b\\f\"");
    check_str("\x01\x1f\x7f", 3, 0, "\"\\u0001\\u001f\x7f\"");
    check_str("\0", 1, 0, "\"\\u0000\"");
    /* valid UTF-8 is kept; each maximal invalid subpart is one U+FFFD */
    check_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 0, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    check_str("bad\xff\xfe", 5, 0, "\"bad\xef\xbf\xbd\xef\xbf\xbd\"");
    check_str("\xc0\xaf", 2, 0, "\"\xef\xbf\xbd\xef\xbf\xbd\"");                 /* overlong */
    check_str("\xed\xa0\x80", 3, 0, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  /* surrogate */
    check_str("\xf4\x90\x80\x80", 4, 0,
              "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");            /* > U+10FFFF */
    check_str("ab\xe2\x82", 4, 0, "\"ab\xef\xbf\xbd\"");                         /* cut sequence */
    check_str("abc", 3, 1, "\"abc\xe2\x80\xa6\"");                               /* the cut mark */
    /* the worst case fills the bound and no more */
    char ctl[40], out[SL_JSON_STR_BOUND(40)];
    memset(ctl, 1, sizeof ctl);
    CHECK(sl_json_str(out, ctl, sizeof ctl, 1) - out <= (long)SL_JSON_STR_BOUND(40));
}

static void test_json_numbers_and_ids(void)
{
    char out[64];
    *sl_json_u64(out, 0) = '\0';
    CHECK_EQ_STR(out, "0");
    *sl_json_u64(out, UINT64_MAX) = '\0';
    CHECK_EQ_STR(out, "18446744073709551615");
    *sl_json_u64(out, 1764000000000000001ull) = '\0';
    CHECK_EQ_STR(out, "1764000000000000001");
    *sl_json_u64(out, 100000000ull) = '\0';
    CHECK_EQ_STR(out, "100000000");
    *sl_json_i64(out, INT64_MIN) = '\0';
    CHECK_EQ_STR(out, "-9223372036854775808");
    sl_id id;
    CHECK_EQ_INT(sl_id_from_hex("0123456789abcdeffedcba9876543210", 32, &id), SL_OK);
    *sl_json_id(out, &id, 0) = '\0';
    CHECK_EQ_STR(out, "\"0123456789abcdeffedcba9876543210\"");
    *sl_json_id(out, &id, 1) = '\0';
    CHECK_EQ_STR(out, "\"fedcba9876543210\"");
}

/* ===== JSON STRING DECODING ===== */

/* Decodes the string content in json (after the opening quote); returns
 * the decoded bytes' count, or -1 when refused; *rest: what follows. */
static int unescape(const char *json, char *out, const char **rest)
{
    char *end;
    const char *next = sl_json_unescape(json, json + strlen(json), out, &end);
    if (!next) return -1;
    *rest = next;
    return (int)(end - out);
}

static void test_json_unescape(void)
{
    char out[64];
    const char *rest = NULL;
    CHECK_EQ_INT(unescape("plain\"tail", out, &rest), 5);
    CHECK(memcmp(out, "plain", 5) == 0 && strcmp(rest, "tail") == 0);
    CHECK_EQ_INT(unescape("a\\\"\\/\\b\\f\\n\\r\\t\\\\z\"", out, &rest), 10);
    CHECK(memcmp(out, "a\"/\b\f\n\r\t\\z", 10) == 0);
    /* \u in either case; a pair joined; lone surrogates as U+FFFD */
    CHECK_EQ_INT(unescape("\\u00E9\\u00e9\"", out, &rest), 4);
    CHECK(memcmp(out, "\xc3\xa9\xc3\xa9", 4) == 0);
    CHECK_EQ_INT(unescape("\\ud83d\\ude00\"", out, &rest), 4);
    CHECK(memcmp(out, "\xf0\x9f\x98\x80", 4) == 0);
    CHECK_EQ_INT(unescape("\\ud83dx\"", out, &rest), 4);
    CHECK(memcmp(out, "\xef\xbf\xbdx", 4) == 0);
    CHECK_EQ_INT(unescape("\\ud83d\\u0041\"", out, &rest), 4);   /* high, then a letter */
    CHECK(memcmp(out, "\xef\xbf\xbd" "A", 4) == 0);
    CHECK_EQ_INT(unescape("\\ude00\"", out, &rest), 3);
    CHECK(memcmp(out, "\xef\xbf\xbd", 3) == 0);
    /* refused: unknown escape, short or bad \u, no closing quote */
    CHECK_EQ_INT(unescape("\\x\"", out, &rest), -1);
    CHECK_EQ_INT(unescape("\\u12\"", out, &rest), -1);
    CHECK_EQ_INT(unescape("\\u12g4\"", out, &rest), -1);
    CHECK_EQ_INT(unescape("open", out, &rest), -1);
    CHECK_EQ_INT(unescape("ends in \\", out, &rest), -1);
}

/* ===== UTF-8, BUFFER ===== */

static void test_utf8(void)
{
    CHECK_EQ_INT(sl_utf8_cut("abc", 3, 5), 3);
    CHECK_EQ_INT(sl_utf8_cut("a\xc3\xa9", 3, 2), 1);            /* never inside é */
    CHECK_EQ_INT(sl_utf8_cut("\xf0\x9f\x98\x80z", 5, 3), 0);
    CHECK_EQ_INT(sl_utf8_cut("\xf0\x9f\x98\x80z", 5, 4), 4);
    char out[8];
    unsigned cps[] = {0x41, 0xe9, 0x20ac, 0x1f600};
    const char *want[] = {"A", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (int i = 0; i < 4; i++) {
        *sl_utf8_put(out, cps[i]) = '\0';
        CHECK_EQ_STR(out, want[i]);
    }
    sl_buf b = {0};
    CHECK_EQ_INT(sl_buf_reserve(&b, 3 * 5), SL_OK);
    sl_utf8_sanitize_into(&b, "a\xff\xc3\xa9", 4);
    CHECK(b.len == 6 && memcmp(b.ptr, "a\xef\xbf\xbd\xc3\xa9", 6) == 0);
    sl_buf_free(&b);
}

static void test_buffer(void)
{
    sl_buf b = {0};
    for (int i = 0; i < 1000; i++) CHECK_EQ_INT(sl_buf_append(&b, "0123456789", 10), SL_OK);
    CHECK_EQ_INT(b.len, 10000);
    CHECK(b.cap >= 10000 && memcmp(b.ptr + 9990, "0123456789", 10) == 0);
    CHECK_EQ_INT(sl_buf_putc(&b, '!'), SL_OK);
    char *before = b.ptr;
    size_t cap = b.cap;
    /* a growth that cannot happen leaves the buffer as it was */
    CHECK_EQ_INT(sl_buf_reserve(&b, SIZE_MAX - 8), SL_ENOMEM);
    CHECK(b.ptr == before && b.cap == cap && b.len == 10001 && b.ptr[10000] == '!');
    sl_buf_free(&b);
    CHECK(b.ptr == NULL && b.len == 0 && b.cap == 0);
}

/* Integers of every length, at the edges where one more digit is needed,
 * either sign, as printf writes them. */
static void test_json_integer_lengths(void)
{
    uint64_t p = 1;
    for (int k = 0; k < 20; k++, p *= 10) {
        const uint64_t vs[] = {p - 1, p, p + 1, 2 * p - 1, 9 * p};
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            char want[32], got[32];
            snprintf(want, sizeof want, "%llu", (unsigned long long)vs[i]);
            *sl_json_u64(got, vs[i]) = '\0';
            CHECK_EQ_STR(got, want);
            if (vs[i] < 100000000u) {
                *sl_json_uint8d(got, (uint32_t)vs[i]) = '\0';
                CHECK_EQ_STR(got, want);
            }
            if (vs[i] <= INT64_MAX) {
                char neg[32];
                snprintf(neg, sizeof neg, "-%llu", (unsigned long long)vs[i]);
                *sl_json_i64(got, -(int64_t)vs[i]) = '\0';
                CHECK_EQ_STR(got, vs[i] ? neg : want);
            }
        }
    }
}

/* The cached timestamp writer writes what sl_json_u64 writes, whether its
 * leading digits come from the cache, change, or the value is no 19-digit
 * timestamp at all. */
static void test_json_ts_cache(void)
{
    static const uint64_t vs[] = {
        1764000000000000001ull, 1764000000099999999ull, 1764000000100000000ull,
        1764000000100000000ull, 1763999999999999999ull, 42, 0, 999999999999999999ull,
        1000000000000000000ull, 9999999999999999999ull, 10000000000000000000ull, UINT64_MAX,
        1764000000100000123ull,
    };
    sl_json_ts_cache cache = {0};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char want[64], got[64];
        *sl_json_u64(want, vs[i]) = '\0';
        *sl_json_ts(got, vs[i], &cache) = '\0';
        CHECK_EQ_STR(got, want);
        *sl_json_ts(got, vs[i], NULL) = '\0';
        CHECK_EQ_STR(got, want);
    }
}

int main(void)
{
    test_hex_digits();
    test_hex_one_rule();
    test_json_doubles();
    test_json_short_decimals();
    test_json_strings();
    test_json_numbers_and_ids();
    test_json_ts_cache();
    test_json_integer_lengths();
    test_json_unescape();
    test_utf8();
    test_buffer();
    return CHECK_DONE();
}
