/*
 * test_formats_agree.c: JSONL and MessagePack carry the same values, and
 * every path that writes JSONL writes it the same way: the JSONL encoder,
 * and the reader's re-encoding of MessagePack (or any) records, which is
 * what `spanline filter` writes for MessagePack input.
 *
 * Regressions: MessagePack input once came out with raw invalid UTF-8 (the
 * encoder writes U+FFFD) and with 0.1 as 0.10000000000000001 (the encoder
 * writes 0.1), from a second and third JSON writer.
 */
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "reader_internal.h"
#include "spanline.h"

static uint64_t fake_clock(void *ud)
{
    uint64_t *now = ud;
    return *now += 1000;
}

static sl_tracer *open_mem(sl_format format, uint64_t *clock_state)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.format = format;
    c.clock = fake_clock;
    c.clock_ud = clock_state;
    c.seed = 42;
    c.service = "svc";
    c.host = "h1";
    c.limits.max_value_len = 16;
    return sl_tracer_open(&c, NULL);
}

#define STR(key, val) {key, sizeof(key) - 1, SL_ATTR_STRING, {.s = {val, sizeof(val) - 1}}}
#define DBL(key, val) {key, sizeof(key) - 1, SL_ATTR_DOUBLE, {.d = val}}
#define INT(key, val) {key, sizeof(key) - 1, SL_ATTR_INT, {.i = val}}

/* The same spans into a tracer of either format. */
static void record_spans(sl_tracer *t)
{
    static const sl_attr items[] = {INT("", 1), DBL("", 2.5), STR("", "x\xff"), {"", 0, SL_ATTR_BOOL, {.b = 1}}};
    const sl_attr attrs[] = {
        DBL("tenth", 0.1), DBL("third", 1.0 / 3), DBL("big", 1e300), DBL("tiny", 5e-324),
        DBL("negzero", -0.0), DBL("nan", NAN), DBL("inf", -INFINITY), DBL("whole", 42.0),
        INT("min", INT64_MIN), INT("max", INT64_MAX), INT("neg", -5),
        STR("quote", "a\"b\\c\n\x01"), STR("bad", "bad\xff\xfe"), STR("long", "0123456789abcdefghij"),
        {"flag", 4, SL_ATTR_BOOL, {.b = 0}},
        {"list", 4, SL_ATTR_ARRAY, {.a = {items, 4}}},
    };
    sl_span root, child;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = attrs;
    o.nattrs = sizeof attrs / sizeof attrs[0];
    CHECK_EQ_INT(sl_span_begin(t, &root, "bad\xff\xfe", 5, &o), SL_OK);
    sl_context remote;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    CHECK_EQ_INT(sl_traceparent_parse(tp, strlen(tp), &remote), SL_OK);
    memset(&o, 0, sizeof o);
    o.parent = &remote;
    CHECK_EQ_INT(sl_span_begin(t, &child, "remote child", 12, &o), SL_OK);
    CHECK_EQ_INT(sl_span_event(&child, "ev\xc0", 3, attrs, 2), SL_OK);
    CHECK_EQ_INT(sl_span_attr_double(&child, "ratio", 0.1), SL_OK);
    CHECK_EQ_INT(sl_span_end(&child, SL_STATUS_ERROR, "boom \xed\xa0\x80", 8), SL_OK);
    CHECK_EQ_INT(sl_span_end(&root, SL_STATUS_OK, NULL, 0), SL_OK);
}

/* What memory tracer t wrote, as a NUL-terminated copy; closes t. */
static char *written_by(sl_tracer *t, size_t *len)
{
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    const char *m = sl_tracer_memory(t, len);
    char *copy = malloc(*len + 1);
    memcpy(copy, m, *len + 1);
    sl_tracer_close(t);
    return copy;
}

static char *output_of(sl_format format, size_t *len)
{
    uint64_t now = 1764000000000000000ull;
    sl_tracer *t = open_mem(format, &now);
    CHECK(t != NULL);
    record_spans(t);
    return written_by(t, len);
}

/* Every record of a stream re-encoded as JSONL, concatenated. */
static void reencode_all(const char *data, size_t len, sl_buf *out)
{
    sl_reader *r = sl_reader_open_mem(data, len, NULL, NULL);
    CHECK(r != NULL);
    sl_record rec;
    int rc;
    while ((rc = sl_reader_next(r, &rec)) == SL_OK) CHECK_EQ_INT(sl_record_to_jsonl(&rec, out), SL_OK);
    CHECK_EQ_INT(rc, SL_EOF);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 0);
    sl_reader_close(r);
}

static int same_bytes(const sl_buf *b, const char *want, size_t n)
{
    if (b->len == n && memcmp(b->ptr, want, n) == 0) return 1;
    fprintf(stderr, "got:\n%.*s\nwant:\n%.*s\n", (int)b->len, b->ptr, (int)n, want);
    return 0;
}

/* The JSONL encoder's bytes == the MessagePack encoder's records read back
 * and re-encoded, for every kind of value. */
static void test_encoders_agree(void)
{
    size_t jn, mn;
    char *jsonl = output_of(SL_JSONL, &jn);
    char *mp = output_of(SL_MSGPACK, &mn);
    CHECK(jn > 0 && mn > 0 && (unsigned char)mp[0] >= 0x80);
    /* what the JSONL encoder wrote for the values the old writers got wrong */
    CHECK(strstr(jsonl, "\"name\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"") != NULL);
    CHECK(strstr(jsonl, "\"tenth\":0.1,") != NULL);
    CHECK(strstr(jsonl, "\"ratio\":0.1}") != NULL);
    sl_buf from_mp = {0};
    reencode_all(mp, mn, &from_mp);
    CHECK(same_bytes(&from_mp, jsonl, jn));
    /* and JSONL read back re-encodes to itself */
    sl_buf from_jsonl = {0};
    reencode_all(jsonl, jn, &from_jsonl);
    CHECK(same_bytes(&from_jsonl, jsonl, jn));
    sl_buf_free(&from_mp);
    sl_buf_free(&from_jsonl);
    free(jsonl);
    free(mp);
}

/* ===== MessagePack written by another tool (msgpack-c's packer) ===== */

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define KEY(pk, lit) pack_str(pk, lit, sizeof(lit) - 1)

static const uint8_t ID[16] = {0x01, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00,
                               0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07};
#define TS 1764000000000000123ull

/* A start record with raw invalid UTF-8 in the name and a key, and a
 * float64 0.1, as any msgpack writer may produce it; then its end. */
static void pack_stream(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    KEY(&pk, "type"); KEY(&pk, "start");
    KEY(&pk, "id"); msgpack_pack_bin(&pk, 16); msgpack_pack_bin_body(&pk, ID, 16);
    KEY(&pk, "trace"); msgpack_pack_bin(&pk, 16); msgpack_pack_bin_body(&pk, ID, 16);
    KEY(&pk, "name"); pack_str(&pk, "bad\xff\xfe", 5);
    KEY(&pk, "ts"); msgpack_pack_uint64(&pk, TS);
    KEY(&pk, "lane"); msgpack_pack_uint64(&pk, 1);
    KEY(&pk, "attrs");
    msgpack_pack_map(&pk, 4);
    KEY(&pk, "x"); msgpack_pack_double(&pk, 0.1);
    pack_str(&pk, "k\xff", 2); pack_str(&pk, "v\x01\"", 3);
    KEY(&pk, "n"); msgpack_pack_int64(&pk, -5);
    KEY(&pk, "bin"); msgpack_pack_bin(&pk, 2); msgpack_pack_bin_body(&pk, "\xab\x01", 2);
    msgpack_pack_map(&pk, 4);
    KEY(&pk, "type"); KEY(&pk, "end");
    KEY(&pk, "id"); msgpack_pack_bin(&pk, 16); msgpack_pack_bin_body(&pk, ID, 16);
    KEY(&pk, "ts"); msgpack_pack_uint64(&pk, TS + 9);
    KEY(&pk, "status"); KEY(&pk, "ok");
}

#define HEXID "\"019a0000000070008000000000000007\""
#define WANT_START "{\"type\":\"start\",\"id\":" HEXID ",\"trace\":" HEXID \
    ",\"name\":\"bad\xef\xbf\xbd\xef\xbf\xbd\",\"ts\":1764000000000000123,\"lane\":1," \
    "\"attrs\":{\"x\":0.1,\"k\xef\xbf\xbd\":\"v\\u0001\\\"\",\"n\":-5,\"bin\":\"ab01\"}}\n"
#define WANT_END "{\"type\":\"end\",\"id\":" HEXID ",\"ts\":1764000000000000132,\"status\":\"ok\"}\n"

static void test_msgpack_from_another_writer(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_stream(&sb);
    sl_buf out = {0};
    reencode_all(sb.data, sb.size, &out);
    CHECK(same_bytes(&out, WANT_START WANT_END, sizeof(WANT_START WANT_END) - 1));
    sl_buf_free(&out);

    /* `spanline filter` writes a span's records through the span assembler:
     * the same bytes */
    sl_reader *r = sl_reader_open_mem(sb.data, sb.size, NULL, NULL);
    sl_assembler_opts ao = {.mode = SL_ASM_STREAM, .keep_raw = 1};
    sl_assembler *as = sl_assembler_new(&ao, NULL);
    sl_record rec;
    while (sl_reader_next(r, &rec) == SL_OK) CHECK_EQ_INT(sl_assembler_add(as, &rec), SL_OK);
    CHECK_EQ_INT(sl_assembler_finish(as), SL_OK);
    sl_aspan a;
    CHECK_EQ_INT(sl_assembler_next(as, &a), SL_OK);
    sl_buf raw = {0};
    size_t pos = 0, line_len;
    const char *line;
    while (sl_assembler_raw_next(as, a.ref, &pos, &line, &line_len))
        CHECK_EQ_INT(sl_buf_append(&raw, line, line_len), SL_OK);
    CHECK(same_bytes(&raw, WANT_START WANT_END, sizeof(WANT_START WANT_END) - 1));
    CHECK_EQ_INT(sl_assembler_next(as, &a), SL_EOF);
    sl_buf_free(&raw);
    sl_assembler_free(as);
    sl_reader_close(r);

    /* and the JSONL encoder, given the same span, writes the same start line */
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.write_meta = 0;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    sl_id id;
    memcpy(id.bytes, ID, 16);
    sl_attr attrs[] = {DBL("x", 0.1), STR("k\xff", "v\x01\""), INT("n", -5), STR("bin", "ab01")};
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.id = &id;
    o.ts = TS;
    o.lane = 1;
    o.attrs = attrs;
    o.nattrs = 4;
    sl_span span;
    CHECK_EQ_INT(sl_span_begin(t, &span, "bad\xff\xfe", 5, &o), SL_OK);
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    size_t n;
    const char *m = sl_tracer_memory(t, &n);
    sl_buf enc = {m ? (char *)m : NULL, n, n, 1};
    CHECK(same_bytes(&enc, WANT_START, sizeof(WANT_START) - 1));
    sl_span_end(&span, SL_STATUS_OK, NULL, 0);
    sl_tracer_close(t);
    msgpack_sbuffer_destroy(&sb);
}

/* js-logger input is re-encoded too; raw invalid UTF-8 in its name and in
 * its attrs text comes out as U+FFFD, like everything the encoder writes. */
static void test_jslogger_reencoded(void)
{
    const char *in = "{\"type\":\"start\",\"id\":\"v0q1dd9ije1o017ldsd7ko3311c\",\"name\":\"n\xff\","
                     "\"attrs\":{\"k\":\"v\xfe\"}}\n";
    sl_buf out = {0};
    reencode_all(in, strlen(in), &out);
    CHECK_EQ_INT(sl_buf_putc(&out, '\0'), SL_OK);
    CHECK(strstr(out.ptr, "{\"type\":\"start\",\"id\":\"") == out.ptr);
    CHECK(strstr(out.ptr, "\"startId\"") == NULL && strstr(out.ptr, "\"v0q1") == NULL);
    CHECK(strstr(out.ptr, "\"name\":\"n\xef\xbf\xbd\",\"ts\":") != NULL);
    CHECK(strstr(out.ptr, ",\"attrs\":{\"k\":\"v\xef\xbf\xbd\"}}\n") != NULL);
    sl_buf_free(&out);
}

/* A meta record's "dropped" count (records the writer lost) is read from
 * both formats and survives re-encoding. */
static void test_meta_dropped(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    KEY(&pk, "type"); KEY(&pk, "meta");
    KEY(&pk, "format"); KEY(&pk, "spanline/1");
    KEY(&pk, "ts"); msgpack_pack_uint64(&pk, TS);
    KEY(&pk, "dropped"); msgpack_pack_uint64(&pk, 7);
    const char *want = "{\"type\":\"meta\",\"format\":\"spanline/1\",\"ts\":1764000000000000123,\"dropped\":7}\n";
    sl_buf out = {0};
    reencode_all(sb.data, sb.size, &out);
    CHECK(same_bytes(&out, want, strlen(want)));
    sl_reader *r = sl_reader_open_mem(want, strlen(want), NULL, NULL);
    sl_record rec;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK(rec.type == SL_REC_META && rec.dropped == 7);
    sl_reader_close(r);
    sl_buf_free(&out);
    msgpack_sbuffer_destroy(&sb);
}

/* ===== random records: the writer's fast paths against the general ones ===== */

/* The writer encodes ring records in place, with word-at-a-time strings and
 * cached timestamp digits; the reader's re-encoding takes the general
 * writer (json.h) for every field, and MessagePack carries the values
 * apart. Random spans, events and attributes (strings of every length
 * 0..40 with a byte that needs escaping or repair at a random place,
 * integers of every digit count, timestamps that jump across the cached
 * digits and down to small values) must come out the same bytes every way. */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static uint64_t jumpy_clock(void *ud)
{
    uint64_t *now = ud;
    uint64_t r = rnd() % 16;
    if (r == 0) *now = rnd() % 1000000000000ull;                       /* few digits */
    else if (r == 1 || *now < 1000000000000000000ull) *now = 1764000000000000000ull + rnd() % 1000000000000ull;
    else *now += r == 2 ? rnd() % 300000000u : rnd() % 9000;          /* across 0.1 s, or close */
    return *now;
}

static size_t rnd_text(char *b)
{
    static const char *const odd[] = {"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xC3\xA9", "\xE2\x80\xA6",
                                      "\xF0\x9F\x98\x80", "\xff", "\xC3", "\xED\xA0\x80"};
    size_t n = rnd() % 41;
    for (size_t i = 0; i < n; i++) b[i] = (char)('a' + rnd() % 26);
    if (n && rnd() % 2) {
        const char *s = odd[rnd() % (sizeof odd / sizeof *odd)];
        size_t at = rnd() % n, sl = strlen(s);
        if (at + sl <= n) memcpy(b + at, s, sl);
    }
    return n;
}

static void random_attr(sl_attr *a, char *key, char *val)
{
    a->key = key;
    a->key_len = rnd_text(key);
    uint64_t digits = rnd() % 20, m = 1;
    for (uint64_t i = 0; i < digits; i++) m *= 10;
    switch (rnd() % 4) {
    case 0: a->type = SL_ATTR_STRING; a->v.s.ptr = val; a->v.s.len = rnd_text(val); break;
    case 1: a->type = SL_ATTR_INT; a->v.i = (int64_t)(digits < 19 ? rnd() % m : rnd() >> 1) * (rnd() % 2 ? 1 : -1); break;
    case 2: a->type = SL_ATTR_DOUBLE; a->v.d = (double)(int64_t)rnd() / (double)(rnd() % 1000 + 1); break;
    default: a->type = SL_ATTR_BOOL; a->v.b = (int)(rnd() % 2);
    }
}

static char *random_output(sl_format format, size_t *len)
{
    uint64_t now = 1764000000000000000ull;
    rnd_state = 0x9e3779b97f4a7c15ull;
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.format = format;
    c.clock = jumpy_clock;
    c.clock_ud = &now;
    c.seed = 7;
    c.limits.max_value_len = 24;   /* some strings are cut and marked */
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sl_context remote;
    CHECK_EQ_INT(sl_traceparent_parse(tp, strlen(tp), &remote), SL_OK);
    for (int i = 0; i < 3000; i++) {
        char name[48], keys[3][48], vals[3][48];
        sl_attr attrs[3];
        size_t n = rnd() % 4;
        for (size_t k = 0; k < n; k++) random_attr(&attrs[k], keys[k], vals[k]);
        sl_span root, child;
        sl_start_opts o;
        memset(&o, 0, sizeof o);
        o.attrs = attrs;
        o.nattrs = n;
        o.lane = (uint32_t)(rnd() % 3 ? 0 : rnd() % 100000);
        CHECK_EQ_INT(sl_span_begin(t, &root, name, rnd_text(name), &o), SL_OK);
        sl_context ctx;
        sl_span_context(&root, &ctx);
        o.parent = rnd() % 4 ? &ctx : &remote;
        CHECK_EQ_INT(sl_span_begin(t, &child, name, rnd_text(name), &o), SL_OK);
        CHECK_EQ_INT(sl_span_event(&child, name, rnd_text(name), attrs, n), SL_OK);
        CHECK_EQ_INT(sl_span_attrs(&child, attrs, n), SL_OK);
        size_t el = rnd_text(name);
        CHECK_EQ_INT(sl_span_end(&child, (sl_span_status)(rnd() % 3), name, el), SL_OK);
        CHECK_EQ_INT(sl_span_end(&root, SL_STATUS_OK, NULL, 0), SL_OK);
    }
    return written_by(t, len);
}

static void test_random_records_agree(void)
{
    size_t jn, mn;
    char *jsonl = random_output(SL_JSONL, &jn);
    char *mp = random_output(SL_MSGPACK, &mn);
    CHECK(jn > 1000000);
    sl_buf from_jsonl = {0}, from_mp = {0};
    reencode_all(jsonl, jn, &from_jsonl);
    CHECK(same_bytes(&from_jsonl, jsonl, jn));
    reencode_all(mp, mn, &from_mp);
    CHECK(same_bytes(&from_mp, jsonl, jn));
    sl_buf_free(&from_jsonl);
    sl_buf_free(&from_mp);
    free(jsonl);
    free(mp);
}

int main(void)
{
    test_encoders_agree();
    test_random_records_agree();
    test_msgpack_from_another_writer();
    test_jslogger_reencoded();
    test_meta_dropped();
    return CHECK_DONE();
}
