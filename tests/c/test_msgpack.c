/*
 * test_msgpack.c: the MessagePack output decodes (msgpack-c's unpacker) to
 * the same records as JSONL: same keys in the same order, ids as 16-byte
 * bin (a remote parent as its 8 bytes), ts as uint64, sanitized strings.
 */
#include <msgpack.h>
#include <stdlib.h>

#include "check.h"
#include "spanline.h"

static uint64_t fake_now = 1764000000000000000ull;

static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now += 1000;
}

static int key_is(const msgpack_object_kv *kv, const char *k)
{
    return kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(k) &&
           memcmp(kv->key.via.str.ptr, k, strlen(k)) == 0;
}

static const msgpack_object *get(const msgpack_object *map, const char *k)
{
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (key_is(&map->via.map.ptr[i], k)) return &map->via.map.ptr[i].val;
    return NULL;
}

static int str_is(const msgpack_object *o, const char *s, size_t n)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

static int bin_is(const msgpack_object *o, const uint8_t *b, size_t n)
{
    return o && o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n && memcmp(o->via.bin.ptr, b, n) == 0;
}

/* the keys of a map, joined with ',' */
static void keys_of(const msgpack_object *map, char *out, size_t cap)
{
    out[0] = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%.*s", i ? "," : "", (int)k->via.str.size, k->via.str.ptr);
    }
}

/* every header size: str8/str16 (with invalid bytes inside), map16,
 * array16, each integer width */
static void test_sizes(void)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.format = SL_MSGPACK;
    c.write_meta = 0;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    char s40[40], s300[300];
    memset(s40, 'a', sizeof s40);
    memset(s300, 'b', sizeof s300);
    s40[5] = (char)0xff;     /* one byte becomes three */
    s300[299] = (char)0xc3;  /* a cut sequence at the end */
    int64_t ints[] = {0, 127, 128, 255, 256, 65535, 65536, 4294967295LL, 4294967296LL, INT64_MAX,
                      -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN};
    enum { NI = sizeof ints / sizeof ints[0] };
    sl_attr a[NI + 3], items[20];
    char keys[NI][8];
    for (int i = 0; i < NI; i++) {
        snprintf(keys[i], sizeof keys[i], "i%d", i);
        a[i] = (sl_attr){keys[i], strlen(keys[i]), SL_ATTR_INT, {.i = ints[i]}};
    }
    a[NI] = (sl_attr){"s40", 3, SL_ATTR_STRING, {.s = {s40, sizeof s40}}};
    a[NI + 1] = (sl_attr){"s300", 4, SL_ATTR_STRING, {.s = {s300, sizeof s300}}};
    for (int i = 0; i < 20; i++) items[i] = (sl_attr){NULL, 0, SL_ATTR_INT, {.i = i}};
    a[NI + 2] = (sl_attr){"arr", 3, SL_ATTR_ARRAY, {.a = {items, 20}}};
    sl_span s;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = a;
    o.nattrs = NI + 3;
    sl_span_begin(t, &s, "sizes", 5, &o);
    size_t len;
    const char *m = sl_tracer_memory(t, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, m, len, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK_EQ_INT(off, len);
    const msgpack_object *at = get(&u.data, "attrs");
    CHECK(at && at->type == MSGPACK_OBJECT_MAP && at->via.map.size == NI + 3);
    if (at && at->via.map.size == NI + 3) {
        for (int i = 0; i < NI; i++) {
            const msgpack_object *v = get(at, keys[i]);
            int64_t got = !v ? 12345 : v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)v->via.u64 : v->via.i64;
            CHECK(v && got == ints[i]);
        }
        char want40[42];
        memcpy(want40, s40, 5);
        memcpy(want40 + 5, "\xEF\xBF\xBD", 3);
        memcpy(want40 + 8, s40 + 6, 34);
        CHECK(str_is(get(at, "s40"), want40, 42));
        char want300[302];
        memcpy(want300, s300, 299);
        memcpy(want300 + 299, "\xEF\xBF\xBD", 3);
        CHECK(str_is(get(at, "s300"), want300, 302));
        const msgpack_object *arr = get(at, "arr");
        CHECK(arr && arr->type == MSGPACK_OBJECT_ARRAY && arr->via.array.size == 20);
        if (arr && arr->via.array.size == 20) CHECK(arr->via.array.ptr[19].via.u64 == 19);
    }
    msgpack_unpacked_destroy(&u);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    sl_tracer_close(t);
}

int main(void)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.format = SL_MSGPACK;
    c.service = "svc";
    c.host = "h";
    c.clock = fake_clock;
    c.limits.max_value_len = 10;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);

    sl_span root, child;
    sl_attr a[5];
    memset(a, 0, sizeof a);
    a[0] = (sl_attr){"s", 1, SL_ATTR_STRING, {.s = {"bad\xff", 4}}};
    a[1] = (sl_attr){"i", 1, SL_ATTR_INT, {.i = -5}};
    a[2] = (sl_attr){"d", 1, SL_ATTR_DOUBLE, {.d = 2.5}};
    a[3] = (sl_attr){"b", 1, SL_ATTR_BOOL, {.b = 1}};
    a[4] = (sl_attr){"long", 4, SL_ATTR_STRING, {.s = {"0123456789abc", 13}}};
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = a;
    o.nattrs = 5;
    sl_span_begin(t, &root, "root", 4, &o);
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sl_context remote;
    sl_traceparent_parse(tp, strlen(tp), &remote);
    memset(&o, 0, sizeof o);
    o.parent = &remote;
    sl_span_begin(t, &child, "child", 5, &o);
    sl_attr arr_items[2] = {{NULL, 0, SL_ATTR_INT, {.i = 1}}, {NULL, 0, SL_ATTR_STRING, {.s = {"x", 1}}}};
    sl_attr arr = {"arr", 3, SL_ATTR_ARRAY, {.a = {arr_items, 2}}};
    sl_span_event(&child, "ev", 2, &arr, 1);
    sl_span_end(&child, SL_STATUS_ERROR, "boom", 4);
    sl_span_end(&root, SL_STATUS_OK, NULL, 0);

    size_t len;
    const char *m = sl_tracer_memory(t, &len);
    CHECK(len > 0);
    CHECK(((unsigned char)m[0] & 0xF0) == 0x80);   /* a fixmap, not '{' */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int n = 0;
    const char *want_keys[] = {
        "type,format,pid,service,host,ts",
        "type,id,trace,name,ts,lane,attrs",
        "type,id,trace,parent,name,ts,lane",
        "type,id,name,ts,attrs",
        "type,id,ts,status,error",
        "type,id,ts,status",
    };
    char keys[256];
    while (msgpack_unpack_next(&u, m, len, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *r = &u.data;
        CHECK(r->type == MSGPACK_OBJECT_MAP);
        if (n < 6) {
            keys_of(r, keys, sizeof keys);
            CHECK_EQ_STR(keys, want_keys[n]);
        }
        const msgpack_object *ts = get(r, "ts");
        CHECK(ts && ts->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ts->via.u64 > 1764000000000000000ull);
        if (n == 0) {
            CHECK(str_is(get(r, "format"), "spanline/1", 10));
            CHECK(str_is(get(r, "service"), "svc", 3));
        } else if (n == 1) {
            CHECK(bin_is(get(r, "id"), root.id.bytes, 16));
            CHECK(bin_is(get(r, "trace"), root.id.bytes, 16));
            CHECK(str_is(get(r, "name"), "root", 4));
            const msgpack_object *at = get(r, "attrs");
            CHECK(at && at->type == MSGPACK_OBJECT_MAP && at->via.map.size == 5);
            if (at) {
                CHECK(str_is(get(at, "s"), "bad\xEF\xBF\xBD", 6));
                const msgpack_object *i = get(at, "i");
                CHECK(i && i->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && i->via.i64 == -5);
                const msgpack_object *d = get(at, "d");
                CHECK(d && d->type == MSGPACK_OBJECT_FLOAT64 && d->via.f64 == 2.5);
                const msgpack_object *b = get(at, "b");
                CHECK(b && b->type == MSGPACK_OBJECT_BOOLEAN && b->via.boolean);
                CHECK(str_is(get(at, "long"), "0123456789\xE2\x80\xA6", 13));
            }
            const msgpack_object *lane = get(r, "lane");
            CHECK(lane && lane->type == MSGPACK_OBJECT_POSITIVE_INTEGER && lane->via.u64 == 1);
        } else if (n == 2) {
            CHECK(bin_is(get(r, "trace"), remote.trace.bytes, 16));
            CHECK(bin_is(get(r, "parent"), remote.span.bytes + 8, 8));
        } else if (n == 3) {
            const msgpack_object *at = get(r, "attrs");
            const msgpack_object *arr_o = at ? get(at, "arr") : NULL;
            CHECK(arr_o && arr_o->type == MSGPACK_OBJECT_ARRAY && arr_o->via.array.size == 2);
            if (arr_o && arr_o->via.array.size == 2) {
                CHECK(arr_o->via.array.ptr[0].via.u64 == 1);
                CHECK(str_is(&arr_o->via.array.ptr[1], "x", 1));
            }
        } else if (n == 4) {
            CHECK(str_is(get(r, "status"), "error", 5));
            CHECK(str_is(get(r, "error"), "boom", 4));
            CHECK(bin_is(get(r, "id"), child.id.bytes, 16));
        } else if (n == 5) {
            CHECK(str_is(get(r, "status"), "ok", 2));
        }
        n++;
    }
    CHECK_EQ_INT(n, 6);
    CHECK_EQ_INT(off, len);
    msgpack_unpacked_destroy(&u);
    sl_tracer_close(t);
    test_sizes();
    return CHECK_DONE();
}
