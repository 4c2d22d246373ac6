/*
 * test_otlp.c: the OTLP encoders (JSON text, protobuf wire bytes read back
 * by a small decoder here), JSON attributes -> ring layout, record
 * re-encoding, and the collector URL. (The field-by-field comparison with
 * the OpenTelemetry JS SDK is tests/e2e/export_otlp.sh.)
 */
#include <stdlib.h>

#include "check.h"
#include "otlp_curl.h"

/* ===== a minimal protobuf reader ===== */

typedef struct field {
    unsigned num, wt;
    uint64_t v;          /* varint, fixed64, fixed32 */
    const uint8_t *p;    /* length-delimited */
    size_t len;
} field;

static uint64_t varint(const uint8_t **p, const uint8_t *e)
{
    uint64_t v = 0;
    for (int shift = 0; *p < e && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    return v;
}

/* The n-th (0-based) occurrence of field num in msg; 1 when found. */
static int get(const uint8_t *msg, size_t len, unsigned num, int n, field *out)
{
    const uint8_t *p = msg, *e = msg + len;
    while (p < e) {
        uint64_t key = varint(&p, e);
        field f = {(unsigned)(key >> 3), (unsigned)(key & 7), 0, NULL, 0};
        if (f.wt == 0) {
            f.v = varint(&p, e);
        } else if (f.wt == 1 || f.wt == 5) {
            int k = f.wt == 1 ? 8 : 4;
            for (int i = 0; i < k; i++) f.v |= (uint64_t)p[i] << (8 * i);
            p += k;
        } else if (f.wt == 2) {
            f.len = (size_t)varint(&p, e);
            f.p = p;
            p += f.len;
        } else {
            return 0;
        }
        if (p > e) return 0;
        if (f.num == num && n-- == 0) {
            *out = f;
            return 1;
        }
    }
    return 0;
}

static int count(const uint8_t *msg, size_t len, unsigned num)
{
    field f;
    int n = 0;
    while (get(msg, len, num, n, &f)) n++;
    return n;
}

/* ===== fixtures ===== */

static sl_id id_from(const char *hex)
{
    sl_id id;
    memset(&id, 0, sizeof id);
    sl_id_from_hex(hex, strlen(hex), &id);
    return id;
}

static void attrs_of(const char *json, sl_buf *blob, uint32_t *n)
{
    blob->len = 0;
    *n = 0;
    CHECK_EQ_INT(sl_attrs_from_json(json, strlen(json), blob, n), SL_OK);
}

static void test_attrs_from_json(void)
{
    sl_buf blob = {0};
    uint32_t n;
    attrs_of("{\"s\":\"a\\\"b\\u00e9\\ud83d\\ude00\",\"i\":-12,\"d\":1.5,\"b\":true,\"f\":false,"
             "\"arr\":[1,2,3],\"sa\":[\"x\",\"y\"],\"n\":null,\"o\":{\"k\":[1,{}]},\"z\":-0,"
             "\"big\":9223372036854775807,\"huge\":18446744073709551616}", &blob, &n);
    CHECK_EQ_INT(n, 12);
    const char *p = blob.ptr;
    sl_aview a;
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_STRING && a.len == 9 && memcmp(a.s, "a\"b\xC3\xA9\xF0\x9F\x98\x80", 9) == 0);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_INT && a.i == -12 && a.key_len == 1 && a.key[0] == 'i');
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_DOUBLE && a.d == 1.5);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_BOOL && a.len == 1);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_BOOL && a.len == 0);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_ARRAY && a.len == 3);
    for (int k = 1; k <= 3; k++) {
        p = sl_attr_read(p, &a);
        CHECK(a.type == SL_ATTR_INT && a.i == k && a.key_len == 0);
    }
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_ARRAY && a.len == 2);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_STRING && a.len == 1 && a.s[0] == 'x');
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_STRING && a.len == 1 && a.s[0] == 'y');
    /* sl_attr_skip steps over an array and its items */
    const char *q = blob.ptr;
    for (int k = 0; k < 7; k++) q = sl_attr_skip(q);
    CHECK(q == p);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_STRING && a.len == 4 && memcmp(a.s, "null", 4) == 0);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_STRING && a.len == 12 && memcmp(a.s, "{\"k\":[1,{}]}", 12) == 0);
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_DOUBLE && a.d == 0.0 && 1 / a.d < 0);   /* -0 stays a double */
    p = sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_INT && a.i == INT64_MAX);
    sl_attr_read(p, &a);
    CHECK(a.type == SL_ATTR_DOUBLE && a.d > 1.8e19);

    blob.len = 0;
    n = 0;
    CHECK_EQ_INT(sl_attrs_from_json("{\"a\":1,}", 8, &blob, &n), SL_EPARSE);
    CHECK_EQ_INT(sl_attrs_from_json("[1]", 3, &blob, &n), SL_EPARSE);
    CHECK_EQ_INT(sl_attrs_from_json("{\"a\":\"x", 7, &blob, &n), SL_EPARSE);
    CHECK_EQ_INT(blob.len, 0);
    /* a NUL byte inside a nested value ends (strchr found its own
     * terminator there and the scan looped forever; found by
     * fuzz_json_text): the nested text is kept as it is, like any other */
    static const char nul[] = {'{', '"', 'o', '"', ':', '{', '{', '\0', '}', '}', '}'};
    CHECK_EQ_INT(sl_attrs_from_json(nul, sizeof nul, &blob, &n), SL_OK);
    CHECK_EQ_INT(n, 1);
    sl_aview v;
    sl_attr_read(blob.ptr, &v);
    CHECK(v.type == SL_ATTR_STRING && v.len == 5 && memcmp(v.s, "{{\0}}", 5) == 0);
    sl_buf_free(&blob);
}

/* The span every encoder test writes. */
static sl_otlp_span sample(sl_buf *attrs, sl_buf *ev_attrs, sl_otlp_event *ev, int remote)
{
    sl_otlp_span s;
    memset(&s, 0, sizeof s);
    s.trace = id_from("0af7651916cd43dd8448eb211c80319c");
    s.id = id_from("01a228c0166e7f8aa28402a6c3683ccc");
    s.parent = remote ? id_from("b7ad6b7169203331") : id_from("01a228c0166e7f7b90f08fe1abe3e4c6");
    s.has_parent = 1;
    s.parent_remote = (uint8_t)remote;
    s.name = "db.query";
    s.name_len = 8;
    s.start = 1764000000123456789ull;
    s.end = 1764000000223456789ull;
    s.status = SL_STATUS_ERROR;
    s.error = "time\"out";
    s.error_len = 8;
    s.lane = 2;
    uint32_t n = 0;
    attrs->len = 0;
    CHECK_EQ_INT(sl_attrs_from_json("{\"sql\":\"select 1\",\"rows\":1}", 27, attrs, &n), SL_OK);
    CHECK_EQ_INT(sl_attrs_from_json("{\"rows\":10,\"ratio\":0.25,\"tags\":[\"a\",\"b\"]}", 42, attrs, &n), SL_OK);
    s.attrs = attrs->ptr;
    s.nattrs = n;
    memset(ev, 0, sizeof *ev);
    ev->name = "retry";
    ev->name_len = 5;
    ev->ts = 1764000000173456789ull;
    ev_attrs->len = 0;
    CHECK_EQ_INT(sl_attrs_from_json("{\"attempt\":2}", 13, ev_attrs, &ev->nattrs), SL_OK);
    ev->attrs = ev_attrs->ptr;
    s.events = ev;
    s.nevents = 1;
    return s;
}

static void test_json(void)
{
    sl_buf attrs = {0}, ev_attrs = {0}, out = {0};
    sl_otlp_event ev;
    sl_otlp_span s = sample(&attrs, &ev_attrs, &ev, 0);
    CHECK_EQ_INT(sl_otlp_json_span(&out, &s), SL_OK);
    CHECK_EQ_INT(sl_buf_putc(&out, '\0'), SL_OK);
    CHECK_EQ_STR(out.ptr,
        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"a28402a6c3683ccc\","
        "\"parentSpanId\":\"90f08fe1abe3e4c6\",\"flags\":257,\"name\":\"db.query\",\"kind\":1,"
        "\"startTimeUnixNano\":\"1764000000123456789\",\"endTimeUnixNano\":\"1764000000223456789\","
        "\"attributes\":[{\"key\":\"sql\",\"value\":{\"stringValue\":\"select 1\"}},"
        "{\"key\":\"rows\",\"value\":{\"intValue\":\"10\"}},"
        "{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.25}},"
        "{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},{\"stringValue\":\"b\"}]}}},"
        "{\"key\":\"spanline.lane\",\"value\":{\"intValue\":\"2\"}}],"
        "\"events\":[{\"timeUnixNano\":\"1764000000173456789\",\"name\":\"retry\","
        "\"attributes\":[{\"key\":\"attempt\",\"value\":{\"intValue\":\"2\"}}]}],"
        "\"status\":{\"message\":\"time\\\"out\",\"code\":2}}");

    /* a batch: envelope with resource and scope; remote parent flags */
    sl_otlp_batch b;
    sl_otlp_batch_init(&b, SL_OTLP_JSON);
    CHECK_EQ_INT(sl_otlp_batch_resource(&b, "api", 3, "h1", 2), SL_OK);
    s.parent_remote = 1;
    s.parent = id_from("b7ad6b7169203331");
    s.status = SL_STATUS_ABANDONED;
    CHECK_EQ_INT(sl_otlp_batch_add(&b, &s), SL_OK);
    CHECK_EQ_INT(sl_otlp_batch_add(&b, &s), SL_OK);
    out.len = 0;
    CHECK_EQ_INT(sl_otlp_batch_finish(&b, &out), SL_OK);
    CHECK_EQ_INT(b.nspans, 0);
    CHECK_EQ_INT(sl_buf_putc(&out, '\0'), SL_OK);
    static const char head[] = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                               "\"value\":{\"stringValue\":\"api\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}";
    CHECK(strncmp(out.ptr, head, sizeof head - 1) == 0);
    CHECK(strstr(out.ptr, "\"scope\":{\"name\":\"spanline\",\"version\":\"" SL_VERSION "\"},\"spans\":[{") != NULL);
    CHECK(strstr(out.ptr, "\"parentSpanId\":\"b7ad6b7169203331\",\"flags\":769,") != NULL);
    CHECK(strstr(out.ptr, "{\"key\":\"spanline.abandoned\",\"value\":{\"boolValue\":true}}") != NULL);
    CHECK(strstr(out.ptr, "\"status\":{}}") != NULL);
    CHECK(strstr(out.ptr, "}},{\"traceId\"") != NULL);   /* two spans, comma-separated */
    CHECK(strcmp(out.ptr + strlen(out.ptr) - 6, "]}]}]}") == 0);
    sl_otlp_batch_free(&b);
    sl_buf_free(&attrs);
    sl_buf_free(&ev_attrs);
    sl_buf_free(&out);
}

static void test_proto(void)
{
    sl_buf attrs = {0}, ev_attrs = {0}, out = {0};
    sl_otlp_event ev;
    sl_otlp_span s = sample(&attrs, &ev_attrs, &ev, 1);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    s.name = longname;   /* a length that needs a two-byte varint */
    s.name_len = sizeof longname;
    sl_otlp_batch b;
    sl_otlp_batch_init(&b, SL_OTLP_PROTO);
    CHECK_EQ_INT(sl_otlp_batch_add(&b, &s), SL_OK);
    CHECK_EQ_INT(sl_otlp_batch_finish(&b, &out), SL_OK);

    const uint8_t *req = (const uint8_t *)out.ptr;
    field rs, res, ss, scope, sp, f, kv, av;
    CHECK(get(req, out.len, 1, 0, &rs));
    CHECK(get(rs.p, rs.len, 1, 0, &res));
    CHECK(get(res.p, res.len, 1, 0, &kv) && get(kv.p, kv.len, 1, 0, &f) && f.len == 12 &&
          memcmp(f.p, "service.name", 12) == 0);
    CHECK(get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 1, 0, &f) && f.len == 15 &&
          memcmp(f.p, "unknown_service", 15) == 0);
    CHECK(get(rs.p, rs.len, 2, 0, &ss));
    CHECK(get(ss.p, ss.len, 1, 0, &scope) && get(scope.p, scope.len, 1, 0, &f) && f.len == 8 &&
          memcmp(f.p, "spanline", 8) == 0);
    CHECK(get(ss.p, ss.len, 2, 0, &sp));
    CHECK_EQ_INT(count(ss.p, ss.len, 2), 1);
    CHECK(get(sp.p, sp.len, 1, 0, &f) && f.len == 16 && f.p[0] == 0x0a && f.p[15] == 0x9c);
    CHECK(get(sp.p, sp.len, 2, 0, &f) && f.len == 8 && f.p[0] == 0xa2 && f.p[7] == 0xcc);
    CHECK(get(sp.p, sp.len, 4, 0, &f) && f.len == 8 && f.p[0] == 0xb7 && f.p[7] == 0x31);
    CHECK(get(sp.p, sp.len, 5, 0, &f) && f.len == 300 && f.p[299] == 'n');
    CHECK(get(sp.p, sp.len, 6, 0, &f) && f.wt == 0 && f.v == 1);
    CHECK(get(sp.p, sp.len, 7, 0, &f) && f.wt == 1 && f.v == 1764000000123456789ull);
    CHECK(get(sp.p, sp.len, 8, 0, &f) && f.wt == 1 && f.v == 1764000000223456789ull);
    CHECK(get(sp.p, sp.len, 16, 0, &f) && f.wt == 5 && f.v == 0x301);
    /* sql, rows (once: the later value), ratio, tags, spanline.lane */
    CHECK_EQ_INT(count(sp.p, sp.len, 9), 5);
    CHECK(get(sp.p, sp.len, 9, 1, &kv) && get(kv.p, kv.len, 1, 0, &f) && f.len == 4 &&
          memcmp(f.p, "rows", 4) == 0);
    CHECK(get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 3, 0, &f) && f.v == 10);
    CHECK(get(sp.p, sp.len, 9, 2, &kv) && get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 4, 0, &f) &&
          f.wt == 1);
    double d;
    memcpy(&d, &f.v, 8);
    CHECK(d == 0.25);
    CHECK(get(sp.p, sp.len, 9, 3, &kv) && get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 5, 0, &f) &&
          count(f.p, f.len, 1) == 2);
    CHECK(get(sp.p, sp.len, 11, 0, &f));
    field et;
    CHECK(get(f.p, f.len, 1, 0, &et) && et.v == 1764000000173456789ull);
    CHECK(get(f.p, f.len, 2, 0, &et) && et.len == 5 && memcmp(et.p, "retry", 5) == 0);
    CHECK(get(sp.p, sp.len, 15, 0, &f));
    field st;
    CHECK(get(f.p, f.len, 3, 0, &st) && st.v == 2);
    CHECK(get(f.p, f.len, 2, 0, &st) && st.len == 8 && memcmp(st.p, "time\"out", 8) == 0);

    /* negative ints are 10-byte varints; a big string moves its message up */
    out.len = 0;
    uint32_t n = 0;
    char big[400];
    memcpy(big, "{\"neg\":-1,\"s\":\"", 15);
    memset(big + 15, 'x', 300);
    memcpy(big + 315, "\"}", 3);
    attrs.len = 0;
    CHECK_EQ_INT(sl_attrs_from_json(big, strlen(big), &attrs, &n), SL_OK);
    s.attrs = attrs.ptr;
    s.nattrs = n;
    s.lane = 0;
    s.status = SL_STATUS_OK;
    CHECK_EQ_INT(sl_otlp_proto_span(&out, &b.scratch, &s), SL_OK);
    CHECK(get((const uint8_t *)out.ptr, out.len, 2, 0, &sp));
    CHECK(!get(sp.p, sp.len, 15, 0, &f));   /* no status for an ok span */
    CHECK(get(sp.p, sp.len, 9, 0, &kv) && get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 3, 0, &f) &&
          (int64_t)f.v == -1);
    CHECK(get(sp.p, sp.len, 9, 1, &kv) && get(kv.p, kv.len, 2, 0, &av) && get(av.p, av.len, 1, 0, &f) &&
          f.len == 300);
    sl_otlp_batch_free(&b);
    sl_buf_free(&attrs);
    sl_buf_free(&ev_attrs);
    sl_buf_free(&out);
}

/* The kind an attribute span.kind names, from attribute text. */
static int kind_of(const char *json)
{
    sl_buf attrs = {0};
    uint32_t n = 0;
    CHECK_EQ_INT(sl_attrs_from_json(json, strlen(json), &attrs, &n), SL_OK);
    int kind = sl_otlp_span_kind(attrs.ptr, n);
    sl_buf_free(&attrs);
    return kind;
}

static void test_kind(void)
{
    CHECK_EQ_INT(kind_of("{}"), 1);
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"internal\"}"), 1);
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"server\"}"), 2);
    CHECK_EQ_INT(kind_of("{\"tags\":[\"a\",\"b\"],\"span.kind\":\"CLIENT\"}"), 3);   /* after an array */
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"producer\"}"), 4);
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"consumer\",\"x\":1}"), 5);
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"servers\"}"), 1);   /* not a kind */
    CHECK_EQ_INT(kind_of("{\"span.kind\":2}"), 1);               /* not a string */
    CHECK_EQ_INT(kind_of("{\"span.kinds\":\"server\"}"), 1);
    CHECK_EQ_INT(kind_of("{\"span.kind\":\"server\",\"span.kind\":\"client\"}"), 3);   /* the last wins */

    /* both encodings carry it */
    sl_buf attrs = {0}, ev_attrs = {0}, out = {0};
    sl_otlp_event ev;
    sl_otlp_span s = sample(&attrs, &ev_attrs, &ev, 0);
    s.kind = 2;
    CHECK_EQ_INT(sl_otlp_json_span(&out, &s), SL_OK);
    CHECK_EQ_INT(sl_buf_putc(&out, '\0'), SL_OK);
    CHECK(strstr(out.ptr, ",\"kind\":2,") != NULL);
    sl_otlp_batch b;
    sl_otlp_batch_init(&b, SL_OTLP_PROTO);
    out.len = 0;
    CHECK_EQ_INT(sl_otlp_proto_span(&out, &b.scratch, &s), SL_OK);
    field sp, f;
    CHECK(get((const uint8_t *)out.ptr, out.len, 2, 0, &sp));
    CHECK(get(sp.p, sp.len, 6, 0, &f) && f.wt == 0 && f.v == 2);
    sl_otlp_batch_free(&b);
    sl_buf_free(&attrs);
    sl_buf_free(&ev_attrs);
    sl_buf_free(&out);
}

static void test_partial_success(void)
{
    static const char j1[] = "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"x\"}}";
    static const char j2[] = "{ \"partialSuccess\": { \"errorMessage\": \"x\", \"rejectedSpans\": 12 } }";
    CHECK_EQ_INT((int)sl_otlp_rejected_json(j1, sizeof j1 - 1), 3);
    CHECK_EQ_INT((int)sl_otlp_rejected_json(j2, sizeof j2 - 1), 12);
    CHECK_EQ_INT((int)sl_otlp_rejected_json("{}", 2), 0);
    CHECK_EQ_INT((int)sl_otlp_rejected_json("", 0), 0);
    /* ExportTraceServiceResponse { partial_success { rejected_spans: 300, error_message: "e" } } */
    static const char p1[] = {0x0a, 0x06, 0x08, (char)0xac, 0x02, 0x12, 0x01, 'e'};
    CHECK_EQ_INT((int)sl_otlp_rejected_proto(p1, sizeof p1), 300);
    /* an unknown field first, then the message; a message cut short */
    static const char p2[] = {0x18, 0x05, 0x0a, 0x02, 0x08, 0x07};
    CHECK_EQ_INT((int)sl_otlp_rejected_proto(p2, sizeof p2), 7);
    CHECK_EQ_INT((int)sl_otlp_rejected_proto(p1, 4), 0);
    CHECK_EQ_INT((int)sl_otlp_rejected_proto("", 0), 0);
}

static void test_record_view(void)
{
    /* a record read back and written by the JSONL and MessagePack encoders */
    static const char line[] =
        "{\"type\":\"start\",\"id\":\"01a228c0166e7f8aa28402a6c3683ccc\",\"trace\":\"0af7651916cd43dd8448eb211c80319c\","
        "\"parent\":\"b7ad6b7169203331\",\"name\":\"q\xC3\xA9\",\"ts\":1764000000123456789,\"lane\":3,"
        "\"attrs\":{\"a\":0.1,\"b\":[1,2],\"c\":\"x\\ny\",\"d\":-0,\"e\":1e+300}}\n"
        "{\"type\":\"end\",\"id\":\"01a228c0166e7f8aa28402a6c3683ccc\",\"ts\":1764000000123456790,\"status\":\"error\",\"error\":\"boom\"}\n";
    sl_reader *r = sl_reader_open_mem(line, sizeof line - 1, NULL, NULL);
    CHECK(r != NULL);
    sl_buf blob = {0}, jsonl = {0}, mp = {0};
    sl_record rec;
    while (r && sl_reader_next(r, &rec) == SL_OK) {
        sl_rview v;
        CHECK_EQ_INT(sl_record_view(&rec, &blob, &v), SL_OK);
        CHECK_EQ_INT(sl_jsonl_encode(&jsonl, &v), SL_OK);
        CHECK_EQ_INT(sl_msgpack_encode(&mp, &v), SL_OK);
    }
    sl_reader_close(r);
    CHECK_EQ_INT(jsonl.len, sizeof line - 1);
    CHECK(jsonl.len == sizeof line - 1 && memcmp(jsonl.ptr, line, jsonl.len) == 0);
    /* ... and from the MessagePack bytes back to the same JSONL */
    r = sl_reader_open_mem(mp.ptr, mp.len, NULL, NULL);
    jsonl.len = 0;
    while (r && sl_reader_next(r, &rec) == SL_OK) {
        sl_rview v;
        CHECK_EQ_INT(sl_record_view(&rec, &blob, &v), SL_OK);
        CHECK_EQ_INT(sl_jsonl_encode(&jsonl, &v), SL_OK);
    }
    sl_reader_close(r);
    CHECK(jsonl.len == sizeof line - 1 && memcmp(jsonl.ptr, line, jsonl.len) == 0);
    sl_buf_free(&blob);
    sl_buf_free(&jsonl);
    sl_buf_free(&mp);
}

static void test_url(void)
{
    char *u;
    CHECK_EQ_STR(u = sl_otlp_url("otlp+http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
    free(u);
    CHECK_EQ_STR(u = sl_otlp_url("http://h:4318/"), "http://h:4318/v1/traces");
    free(u);
    CHECK_EQ_STR(u = sl_otlp_url("otlp+https://h/custom/path"), "https://h/custom/path");
    free(u);
    CHECK(sl_otlp_url("ftp://h") == NULL);
    CHECK(sl_otlp_url("otlp+http://") == NULL);
    CHECK(sl_otlp_url("http:///x") == NULL);
}

int main(void)
{
    test_attrs_from_json();
    test_json();
    test_proto();
    test_kind();
    test_partial_success();
    test_record_view();
    test_url();
    return CHECK_DONE();
}
