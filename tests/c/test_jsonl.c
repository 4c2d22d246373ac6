/*
 * test_jsonl.c: the JSONL encoder on hostile input: quotes, backslashes,
 * every control character, invalid UTF-8 (overlong forms, UTF-8-encoded
 * surrogates, cut sequences, bytes past U+10FFFF), NaN/Inf, exact int64,
 * huge values truncated at a UTF-8 boundary (marked and counted), too many
 * attributes. Every output line is checked with jq; values are read back
 * with `jq -j` and compared byte for byte.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static char tmp_path[64];

static sl_tracer *open_mem(uint32_t max_value_len, uint32_t max_attrs)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    if (max_value_len) c.limits.max_value_len = max_value_len;
    if (max_attrs) c.limits.max_attrs = max_attrs;
    c.limits.max_name_len = 32;
    return sl_tracer_open(&c, NULL);
}

static void dump(sl_tracer *t)
{
    size_t n;
    const char *m = sl_tracer_memory(t, &n);
    FILE *f = fopen(tmp_path, "wb");
    fwrite(m, 1, n, f);
    fclose(f);
}

/* Runs jq with filter over the dumped output; returns its stdout
 * (malloc'ed) and its exit status in *rc. */
static char *jq(const char *args, const char *filter, size_t *len, int *rc)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "jq %s '%s' %s", args, filter, tmp_path);
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024) out = realloc(out, cap *= 2);
    }
    out[n] = 0;
    int st = pclose(p);
    if (rc) *rc = st;
    if (len) *len = n;
    return out;
}

/* every line is one JSON value and jq accepts them all */
static void check_all_lines_parse(sl_tracer *t)
{
    size_t n;
    const char *m = sl_tracer_memory(t, &n);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += m[i] == '\n';
    CHECK(n > 0 && m[n - 1] == '\n');
    dump(t);
    int rc;
    char *out = jq("-c", ".", NULL, &rc);
    CHECK_EQ_INT(rc, 0);
    size_t out_lines = 0;
    for (char *p = out; *p; p++) out_lines += *p == '\n';
    CHECK_EQ_INT(out_lines, lines);
    free(out);
}

static sl_attr str_attr(const char *key, const char *s, size_t len)
{
    sl_attr a;
    a.key = key;
    a.key_len = strlen(key);
    a.type = SL_ATTR_STRING;
    a.v.s.ptr = s;
    a.v.s.len = len;
    return a;
}

/* value of attrs.v in the last attr record, as raw bytes */
static void check_roundtrip(const char *in, size_t in_len, const char *want, size_t want_len)
{
    sl_tracer *t = open_mem(0, 0);
    sl_span s;
    sl_span_begin(t, &s, "x", 1, NULL);
    sl_attr a = str_attr("v", in, in_len);
    sl_span_attrs(&s, &a, 1);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    check_all_lines_parse(t);
    size_t n;
    int rc;
    char *out = jq("-j", "select(.type==\"attr\") | .attrs.v", &n, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(n, want_len);
    CHECK(n == want_len && memcmp(out, want, n) == 0);
    if (n != want_len || memcmp(out, want, n) != 0) {
        fprintf(stderr, "  got:");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", (unsigned char)out[i]);
        fprintf(stderr, "\n");
    }
    free(out);
    sl_tracer_close(t);
}

#define RT(in, want) check_roundtrip(in, sizeof(in) - 1, want, sizeof(want) - 1)
#define FFFD "\xEF\xBF\xBD"

static void test_strings(void)
{
    RT("plain", "plain");
    RT("q\"uo\"te", "q\"uo\"te");
    RT("back\\slash\\", "back\\slash\\");
    RT("/slash", "/slash");
    RT("", "");
    /* every control character, DEL, and NUL in the middle */
    char ctl[34], *p = ctl;
    for (int c = 1; c < 32; c++) *p++ = (char)c;
    *p++ = 127;
    *p++ = 'z';
    check_roundtrip(ctl, (size_t)(p - ctl), ctl, (size_t)(p - ctl));
    RT("a\0b", "a\0b");
    /* valid UTF-8 is kept as is */
    RT("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \xEF\xBF\xBF", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 \xEF\xBF\xBF");
    /* invalid: each maximal invalid subpart becomes one U+FFFD */
    RT("\xff", FFFD);
    RT("a\x80z", "a" FFFD "z");
    RT("\xC0\xAF", FFFD FFFD);                        /* overlong '/' */
    RT("\xE0\x80\xAF", FFFD FFFD FFFD);               /* overlong, 3 bytes */
    RT("\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD);      /* overlong, 4 bytes */
    RT("\xED\xA0\x80", FFFD FFFD FFFD);               /* U+D800 encoded */
    RT("\xED\xBF\xBF", FFFD FFFD FFFD);               /* U+DFFF encoded */
    RT("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD);      /* past U+10FFFF */
    RT("x\xE2\x82", "x" FFFD);                        /* cut at the end */
    RT("\xE2\x82z", FFFD "z");                        /* cut in the middle */
    RT("\xF0\x9F\x98", FFFD);
    RT("\xF8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD);
}

static void test_numbers(void)
{
    sl_tracer *t = open_mem(0, 0);
    sl_span s;
    sl_span_begin(t, &s, "n", 1, NULL);
    sl_attr a[10];
    const char *keys[] = {"nan", "inf", "ninf", "max", "min", "tenth", "big", "neg0", "t", "f"};
    for (int i = 0; i < 10; i++) {
        a[i].key = keys[i];
        a[i].key_len = strlen(keys[i]);
    }
    a[0].type = a[1].type = a[2].type = a[5].type = a[6].type = a[7].type = SL_ATTR_DOUBLE;
    a[0].v.d = NAN;
    a[1].v.d = INFINITY;
    a[2].v.d = -INFINITY;
    a[3].type = a[4].type = SL_ATTR_INT;
    a[3].v.i = INT64_MAX;
    a[4].v.i = INT64_MIN;
    a[5].v.d = 0.1;
    a[6].v.d = 1e300;
    a[7].v.d = -0.0;
    a[8].type = a[9].type = SL_ATTR_BOOL;
    a[8].v.b = 5;
    a[9].v.b = 0;
    sl_span_attrs(&s, a, 10);
    check_all_lines_parse(t);
    size_t n;
    const char *m = sl_tracer_memory(t, &n);
    CHECK(strstr(m, "\"nan\":\"NaN\",\"inf\":\"Infinity\",\"ninf\":\"-Infinity\"") != NULL);
    CHECK(strstr(m, "\"max\":9223372036854775807,\"min\":-9223372036854775808,") != NULL);
    CHECK(strstr(m, "\"tenth\":0.1,\"big\":1e+300,\"neg0\":-0,\"t\":true,\"f\":false}") != NULL);
    /* integers around every digit-count boundary print exactly */
    int64_t edges[] = {0, 1, 9, 10, 99, 100, 101, 999, 1000, 9999999, 10000000, 99999999, 100000000,
                       100000001, 999999999999999, 9999999999999999, 10000000000000000,
                       10000000000000001, 1234567890123456789, -1, -10, -100000000, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        sl_attr x = {"v", 1, SL_ATTR_INT, {.i = edges[i]}};
        char want[64];
        snprintf(want, sizeof want, "\"attrs\":{\"v\":%lld}}", (long long)edges[i]);
        sl_tracer_memory_clear(t);
        sl_span_attrs(&s, &x, 1);
        const char *mm = sl_tracer_memory(t, &n);
        CHECK(strstr(mm, want) != NULL);
    }
    /* integral doubles print exactly as %.15g does */
    double ints_d[] = {0.0, 1.0, -1.0, 2.0, 10.0, -123456.0, 99999999999999.0, 999999999999999.0,
                       -999999999999999.0, 1e15, 1e16, -0.0};
    for (size_t i = 0; i < sizeof ints_d / sizeof ints_d[0]; i++) {
        sl_attr x = {"v", 1, SL_ATTR_DOUBLE, {.d = ints_d[i]}};
        char want[80];
        snprintf(want, sizeof want, "\"attrs\":{\"v\":%.15g}}", ints_d[i]);
        sl_tracer_memory_clear(t);
        sl_span_attrs(&s, &x, 1);
        const char *mm = sl_tracer_memory(t, &n);
        CHECK(strstr(mm, want) != NULL);
    }
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    /* doubles read back exactly */
    char buf[64];
    for (int i = 0; i < 1000; i++) {
        double d = (double)rand() / RAND_MAX;
        for (int k = 0; k < i % 20; k++) d *= (i & 1) ? 10.0 : 0.1;   /* no libm */
        sl_attr x = {"d", 1, SL_ATTR_DOUBLE, {.d = d}};
        sl_tracer_memory_clear(t);
        sl_span_begin(t, &s, "n", 1, NULL);
        sl_span_attrs(&s, &x, 1);
        m = sl_tracer_memory(t, &n);
        const char *at = strstr(m, "\"d\":");
        CHECK(at != NULL);
        if (!at) break;
        snprintf(buf, sizeof buf, "%.*s", (int)strcspn(at + 4, "}"), at + 4);
        CHECK(strtod(buf, NULL) == d);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    }
    sl_tracer_close(t);
}

static void test_limits(void)
{
    sl_tracer *t = open_mem(100, 8);
    sl_span s;
    /* the name is cut at max_name_len (32) and marked */
    sl_span_begin(t, &s, "a-name-that-is-much-longer-than-thirty-two-bytes", 48, NULL);
    char big[5000];
    memset(big, 'a', sizeof big);
    sl_attr a = str_attr("big", big, sizeof big);
    sl_span_attrs(&s, &a, 1);
    /* 2-byte characters: a cut at 100 bytes keeps 50 of them */
    char e2[200];
    for (int i = 0; i < 100; i++) {
        e2[2 * i] = (char)0xC3;
        e2[2 * i + 1] = (char)0xA9;
    }
    a = str_attr("e", e2, 199);   /* 99 and a half characters: cut anyway */
    sl_span_attrs(&s, &a, 1);
    a = str_attr("fits", big, 100);
    sl_span_attrs(&s, &a, 1);
    sl_attr many[12];
    char keys[12][4];
    for (int i = 0; i < 12; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i].key = keys[i];
        many[i].key_len = strlen(keys[i]);
        many[i].type = SL_ATTR_INT;
        many[i].v.i = i;
    }
    sl_span_attrs(&s, many, 12);
    sl_span_end(&s, SL_STATUS_ERROR, big, sizeof big);
    check_all_lines_parse(t);
    size_t n;
    int rc;
    char *out = jq("-j", "select(.type==\"start\") | .name", &n, &rc);
    CHECK_EQ_STR(out, "a-name-that-is-much-longer-than-\xE2\x80\xA6");
    free(out);
    out = jq("-j", "select(.type==\"attr\") | .attrs.big // empty | length", &n, &rc);
    CHECK_EQ_STR(out, "101");   /* 100 characters + the mark */
    free(out);
    out = jq("-j", "select(.type==\"attr\") | .attrs.e // empty", &n, &rc);
    char want[200];
    memcpy(want, e2, 100);
    memcpy(want + 100, "\xE2\x80\xA6", 4);
    CHECK_EQ_STR(out, want);
    free(out);
    out = jq("-j", "select(.type==\"attr\") | .attrs.fits // empty | length", &n, &rc);
    CHECK_EQ_STR(out, "100");
    free(out);
    out = jq("-j", "select(.type==\"attr\") | .attrs | select(.k0) | keys | length", &n, &rc);
    CHECK_EQ_STR(out, "8");
    free(out);
    out = jq("-j", "select(.type==\"end\") | .error | length", &n, &rc);
    CHECK_EQ_STR(out, "101");
    free(out);
    sl_stats st;
    sl_tracer_stats(t, &st);
    /* name, big, e, 4 dropped attributes, the error */
    CHECK_EQ_INT(st.truncated, 1 + 1 + 1 + 4 + 1);
    sl_tracer_close(t);
}

static void test_arrays_and_keys(void)
{
    sl_tracer *t = open_mem(0, 0);
    sl_span s;
    sl_attr items[5];
    items[0].type = SL_ATTR_INT;
    items[0].v.i = 1;
    items[1] = str_attr("ignored", "x\"y", 3);
    items[2].type = SL_ATTR_BOOL;
    items[2].v.b = 1;
    items[3].type = SL_ATTR_DOUBLE;
    items[3].v.d = 2.5;
    items[4].type = SL_ATTR_ARRAY;   /* nested: not allowed, becomes null */
    items[4].v.a.items = items;
    items[4].v.a.n = 1;
    sl_attr arr[2];
    arr[0].key = "list";
    arr[0].key_len = 4;
    arr[0].type = SL_ATTR_ARRAY;
    arr[0].v.a.items = items;
    arr[0].v.a.n = 5;
    arr[1] = str_attr("k\"e\\y\n\xff", "v", 1);
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = arr;
    o.nattrs = 2;
    sl_span_begin(t, &s, "arr", 3, &o);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    check_all_lines_parse(t);
    size_t n;
    int rc;
    char *out = jq("-c", "select(.type==\"start\") | .attrs", &n, &rc);
    CHECK_EQ_STR(out, "{\"list\":[1,\"x\\\"y\",true,2.5,null],\"k\\\"e\\\\y\\n\xEF\xBF\xBD\":\"v\"}\n");
    free(out);
    sl_tracer_close(t);
}

/* JSON escaping by the book, one byte at a time (ASCII and the one valid
 * two-byte sequence the test uses): the reference for test_escape_positions. */
static char *ref_escape(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            o += sprintf(o, "\\n");
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else if (c == 0xff) {
            o += sprintf(o, FFFD);
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return o;
}

/* A byte that needs escaping or checking at every position of strings of
 * every length up to 40: the encoder copies plain ASCII 8 bytes a step and
 * must hand over to the escaper wherever such a byte sits. */
static void test_escape_positions(void)
{
    static const char *const specials[] = {"\"", "\\", "\n", "\x01", "\x1f", "\xC3\xA9", "\xff"};
    int bad = 0;
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        size_t sl = strlen(specials[k]);
        for (size_t len = 1; len <= 40; len++) {
            for (size_t at = 0; at + sl <= len; at++) {
                char in[48], want[400], line[600];
                memset(in, 'a' + (int)(len % 26), len);
                memcpy(in + at, specials[k], sl);
                sl_tracer *t = open_mem(0, 0);
                sl_span s;
                sl_attr a = str_attr("v", in, len);
                sl_start_opts o;
                memset(&o, 0, sizeof o);
                o.attrs = &a;
                o.nattrs = 1;
                sl_span_begin(t, &s, in, len > 32 ? 32 : len, &o);
                sl_span_end(&s, SL_STATUS_OK, NULL, 0);
                size_t n;
                const char *m = sl_tracer_memory(t, &n);
                char *w = want;
                w += sprintf(w, "\"attrs\":{\"v\":\"");
                w = ref_escape(w, in, len);
                sprintf(w, "\"}}");
                snprintf(line, sizeof line, "%.*s", (int)n, m);
                if (!strstr(line, want)) {
                    if (!bad++) fprintf(stderr, "  want %s\n  in   %s\n", want, line);
                }
                sl_tracer_close(t);
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
}

static uint64_t fixed_ts;
static uint64_t fixed_clock(void *ud)
{
    (void)ud;
    return fixed_ts;
}

/* Timestamps (and so integers) of every digit count, the 19-digit ones
 * (2001..2286) at the edges of each 8-digit group, as the encoder's digit
 * paths split them. */
static void test_timestamps(void)
{
    static const uint64_t ts[] = {
        1, 9, 10, 99, 100, 999, 1000, 1234, 9999, 10000, 12345, 100000, 123456, 999999, 1000000,
        1234567, 9999999, 10000000, 12345678, 99999999, 100000000, 123456789012345678ull,
        999999999999999999ull, 1000000000000000000ull, 1000000000000000001ull,
        1764000000000000000ull, 1764000000123456789ull, 1764000000099999999ull,
        1764000000100000000ull, 1799999999999999999ull, 9999999999999999999ull,
        10000000000000000000ull, 18446744073709551615ull};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        sl_config c;
        sl_config_init(&c);
        c.sink = SL_SINK_MEMORY;
        c.write_meta = 0;
        c.clock = fixed_clock;
        fixed_ts = ts[i];
        sl_tracer *t = sl_tracer_open(&c, NULL);
        sl_span s;
        sl_span_begin(t, &s, "x", 1, NULL);
        sl_span_end(&s, SL_STATUS_OK, NULL, 0);
        size_t n;
        const char *m = sl_tracer_memory(t, &n);
        char want[48], line[400];
        snprintf(want, sizeof want, ",\"ts\":%llu,", (unsigned long long)ts[i]);
        snprintf(line, sizeof line, "%.*s", (int)n, m);
        CHECK(strstr(line, want) != NULL);
        sl_tracer_close(t);
    }
}

/* random bytes everywhere: every line must still parse */
static void test_random(void)
{
    sl_tracer *t = open_mem(64, 0);
    srand(12345);
    for (int i = 0; i < 3000; i++) {
        char name[40], key[20], val[100];
        size_t nl = (size_t)(rand() % 40), kl = (size_t)(rand() % 20), vl = (size_t)(rand() % 100);
        for (size_t j = 0; j < nl; j++) name[j] = (char)(rand() % 256);
        for (size_t j = 0; j < kl; j++) key[j] = (char)(rand() % 256);
        for (size_t j = 0; j < vl; j++) val[j] = (char)((rand() % 3) ? rand() % 256 : 0x80 + rand() % 64);
        sl_attr a;
        a.key = key;
        a.key_len = kl;
        a.type = SL_ATTR_STRING;
        a.v.s.ptr = val;
        a.v.s.len = vl;
        sl_span s;
        sl_start_opts o;
        memset(&o, 0, sizeof o);
        o.attrs = &a;
        o.nattrs = 1;
        sl_span_begin(t, &s, name, nl, &o);
        sl_span_event(&s, val, vl, &a, 1);
        sl_span_end(&s, i % 2 ? SL_STATUS_ERROR : SL_STATUS_OK, val, vl);
    }
    check_all_lines_parse(t);
    sl_tracer_close(t);
}

int main(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/sl-test-jsonl-%d.jsonl", (int)getpid());
    test_strings();
    test_numbers();
    test_limits();
    test_arrays_and_keys();
    test_random();
    test_escape_positions();
    test_timestamps();
    unlink(tmp_path);
    return CHECK_DONE();
}
