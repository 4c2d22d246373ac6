/*
 * test_tracer.c: the record format (design.md §3) byte for byte, with a
 * fake clock and a seeded id generator; parents local and remote, lanes,
 * events and attr records, end status/error, ending twice, bad arguments,
 * heap spans, counters, close ending open spans as abandoned, names, keys
 * and values of every short length, sl_tracer_next_id, and what the API
 * copies at the call.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static uint64_t fake_now = 1764000000000000000ull;

static uint64_t fake_clock(void *ud)
{
    (void)ud;
    fake_now += 1000;
    return fake_now;
}

static sl_tracer *open_fake(uint64_t seed)
{
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.service = "svc";
    c.host = "h";
    c.clock = fake_clock;
    c.seed = seed;
    sl_error e;
    sl_tracer *t = sl_tracer_open(&c, &e);
    CHECK(t != NULL);
    return t;
}

/* the n-th line (0-based) of the memory sink */
static char *line(sl_tracer *t, int n)
{
    static char out[4096];
    size_t len;
    const char *m = sl_tracer_memory(t, &len);
    const char *p = m, *end = m + len;
    for (int i = 0; i < n && p < end; i++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return strcpy(out, "(none)");
        p++;
    }
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) return strcpy(out, "(none)");
    snprintf(out, sizeof out, "%.*s", (int)(e - p), p);
    return out;
}

static void test_format(void)
{
    fake_now = 1764000000000000000ull;
    sl_tracer *t = open_fake(99);
    /* the ids the tracer will hand out: the same seed and the same times */
    sl_idgen g;
    sl_idgen_init(&g, 99);
    sl_id want_root, want_child;
    sl_idgen_next(&g, 1764000000000002000ull, &want_root);
    sl_idgen_next(&g, 1764000000000003000ull, &want_child);
    char r[33], c[33], exp[1024];
    sl_id_to_hex(&want_root, r);
    sl_id_to_hex(&want_child, c);

    sl_span root, child;
    sl_attr a = {"sql", 3, SL_ATTR_STRING, {.s = {"select 1", 8}}};
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = &a;
    o.nattrs = 1;
    CHECK_EQ_INT(sl_span_begin(t, &root, "db.query", 8, &o), SL_OK);
    sl_context ctx;
    sl_span_context(&root, &ctx);
    memset(&o, 0, sizeof o);
    o.parent = &ctx;
    o.lane = 7;
    CHECK_EQ_INT(sl_span_begin(t, &child, "child", 5, &o), SL_OK);
    sl_attr ev = {"attempt", 7, SL_ATTR_INT, {.i = 2}};
    CHECK_EQ_INT(sl_span_event(&child, "retry", 5, &ev, 1), SL_OK);
    CHECK_EQ_INT(sl_span_attr_int(&child, "rows", 10), SL_OK);
    CHECK_EQ_INT(sl_span_end(&child, SL_STATUS_ERROR, "timeout", 7), SL_OK);
    CHECK_EQ_INT(sl_span_end(&child, SL_STATUS_OK, NULL, 0), SL_ESTATE);
    CHECK_EQ_INT(sl_span_attr_int(&child, "late", 1), SL_ESTATE);
    CHECK_EQ_INT(sl_span_end(&root, SL_STATUS_OK, "ignored", 7), SL_OK);

    CHECK(memcmp(&root.id, &want_root, 16) == 0);
    CHECK(memcmp(&root.trace, &want_root, 16) == 0);
    CHECK(memcmp(&child.trace, &want_root, 16) == 0);
    CHECK(child.flags & SL_SPAN_HAS_PARENT);
    CHECK(!(child.flags & SL_SPAN_OPEN));

    snprintf(exp, sizeof exp,
             "{\"type\":\"meta\",\"format\":\"spanline/1\",\"pid\":%d,\"service\":\"svc\",\"host\":\"h\","
             "\"ts\":1764000000000001000}", (int)getpid());
    CHECK_EQ_STR(line(t, 0), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"start\",\"id\":\"%s\",\"trace\":\"%s\",\"name\":\"db.query\","
             "\"ts\":1764000000000002000,\"lane\":1,\"attrs\":{\"sql\":\"select 1\"}}", r, r);
    CHECK_EQ_STR(line(t, 1), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"start\",\"id\":\"%s\",\"trace\":\"%s\",\"parent\":\"%s\",\"name\":\"child\","
             "\"ts\":1764000000000003000,\"lane\":7}", c, r, r);
    CHECK_EQ_STR(line(t, 2), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"event\",\"id\":\"%s\",\"name\":\"retry\",\"ts\":1764000000000004000,"
             "\"attrs\":{\"attempt\":2}}", c);
    CHECK_EQ_STR(line(t, 3), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"attr\",\"id\":\"%s\",\"ts\":1764000000000005000,\"attrs\":{\"rows\":10}}", c);
    CHECK_EQ_STR(line(t, 4), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"end\",\"id\":\"%s\",\"ts\":1764000000000006000,\"status\":\"error\","
             "\"error\":\"timeout\"}", c);
    CHECK_EQ_STR(line(t, 5), exp);
    snprintf(exp, sizeof exp,
             "{\"type\":\"end\",\"id\":\"%s\",\"ts\":1764000000000007000,\"status\":\"ok\"}", r);
    CHECK_EQ_STR(line(t, 6), exp);
    CHECK_EQ_STR(line(t, 7), "(none)");

    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK_EQ_INT(st.records, 7);
    CHECK_EQ_INT(st.spans_started, 2);
    CHECK_EQ_INT(st.spans_ended, 2);
    CHECK_EQ_INT(st.spans_open, 0);
    CHECK_EQ_INT(st.dropped, 0);
    size_t len;
    sl_tracer_memory(t, &len);
    CHECK_EQ_INT(st.bytes, len);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
}

static void test_remote_parent(void)
{
    sl_tracer *t = open_fake(5);
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sl_context ctx;
    CHECK_EQ_INT(sl_traceparent_parse(tp, strlen(tp), &ctx), SL_OK);
    sl_span s;
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.parent = &ctx;
    o.ts = 1700000000000000000ull;
    CHECK_EQ_INT(sl_span_begin(t, &s, "handler", 7, &o), SL_OK);
    CHECK_EQ_INT(s.start_ns, 1700000000000000000ull);
    const char *l = line(t, 1);
    CHECK(strstr(l, "\"trace\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"parent\":\"00f067aa0ba902b7\",") != NULL);
    CHECK(strstr(l, "\"ts\":1700000000000000000,") != NULL);
    /* and our traceparent carries the trace on, with our id's tail */
    sl_context mine;
    sl_span_context(&s, &mine);
    char out[SL_TRACEPARENT_LEN + 1], hex[33];
    sl_traceparent_format(&mine, out);
    sl_id_to_hex(&s.id, hex);
    CHECK(strncmp(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) == 0);
    CHECK(strncmp(out + 36, hex + 16, 16) == 0);
    CHECK_EQ_STR(out + 52, "-01");
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    sl_tracer_close(t);
}

static void test_args_and_heap(void)
{
    sl_tracer *t = open_fake(0);
    sl_span s;
    CHECK_EQ_INT(sl_span_begin(NULL, &s, "x", 1, NULL), SL_EINVAL);
    CHECK_EQ_INT(sl_span_begin(t, NULL, "x", 1, NULL), SL_EINVAL);
    CHECK_EQ_INT(sl_span_begin(t, &s, NULL, 3, NULL), SL_EINVAL);
    CHECK_EQ_INT(sl_span_end(&s, SL_STATUS_OK, NULL, 0), SL_ESTATE);   /* never began */
    CHECK_EQ_INT(sl_span_end(NULL, SL_STATUS_OK, NULL, 0), SL_EINVAL);
    sl_error why;
    CHECK(sl_span_start(NULL, "x", NULL, &why) == NULL);
    CHECK_EQ_INT(why.code, SL_EINVAL);
    CHECK_EQ_STR(why.message, "sl_span_start: no tracer");
    CHECK(sl_span_start(t, NULL, NULL, &why) == NULL);
    CHECK_EQ_STR(why.message, "sl_span_start: no name");
    CHECK(sl_span_start(t, NULL, NULL, NULL) == NULL);   /* no sl_error wanted */
    sl_span *h = sl_span_start(t, "heap", NULL, &why);
    CHECK(h != NULL);
    CHECK(h->flags & SL_SPAN_ALLOCATED);
    sl_span *k = sl_span_start(t, "kid", h, NULL);
    CHECK(k != NULL);
    CHECK(memcmp(&k->trace, &h->id, 16) == 0);
    CHECK(memcmp(&k->parent.span, &h->id, 16) == 0);
    CHECK_EQ_INT(sl_span_attr_str(k, "s", "v"), SL_OK);
    CHECK_EQ_INT(sl_span_attr_double(k, "d", 1.5), SL_OK);
    CHECK_EQ_INT(sl_span_attr_bool(k, "b", 1), SL_OK);
    CHECK_EQ_INT(sl_span_end(k, (sl_span_status)9, NULL, 0), SL_EINVAL);
    CHECK_EQ_INT(sl_span_end(k, SL_STATUS_OK, NULL, 0), SL_OK);   /* frees k */
    CHECK_EQ_INT(sl_span_end(h, SL_STATUS_ABANDONED, NULL, 0), SL_OK);
    sl_stats st;
    sl_tracer_stats(t, &st);
    CHECK_EQ_INT(st.spans_started, 2);
    CHECK_EQ_INT(st.abandoned, 1);
    size_t len;
    const char *m = sl_tracer_memory(t, &len);
    CHECK(strstr(m, "\"attrs\":{\"s\":\"v\"}") != NULL);
    CHECK(strstr(m, "\"attrs\":{\"d\":1.5}") != NULL);
    CHECK(strstr(m, "\"attrs\":{\"b\":true}") != NULL);
    CHECK(strstr(m, "\"status\":\"abandoned\"}") != NULL);
    sl_tracer_memory_clear(t);
    sl_tracer_memory(t, &len);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_STR(sl_strerror(SL_ESTATE), "span already ended");
    sl_tracer_close(t);

    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = "/nonexistent-dir/x.jsonl";
    sl_error e;
    CHECK(sl_tracer_open(&c, &e) == NULL);
    CHECK_EQ_INT(e.code, SL_EIO);
    CHECK(e.sys_errno != 0);
    CHECK(strstr(e.message, "/nonexistent-dir/x.jsonl") != NULL);
    c.sink = SL_SINK_CALLBACK;
    CHECK(sl_tracer_open(&c, &e) == NULL);
    CHECK_EQ_INT(e.code, SL_EINVAL);
    c.sink = SL_SINK_MEMORY;
    c.format = (sl_format)7;
    CHECK(sl_tracer_open(&c, &e) == NULL);
    CHECK_EQ_INT(e.code, SL_EINVAL);
}

/* close ends every open span as abandoned, heap spans too */
static void test_close_abandons(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/sl-test-tracer-%d.jsonl", (int)getpid());
    unlink(path);
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_PATH;
    c.path = path;
    sl_tracer *t = sl_tracer_open(&c, NULL);
    CHECK(t != NULL);
    sl_span a, b;
    sl_span_begin(t, &a, "a", 1, NULL);
    sl_span_begin(t, &b, "b", 1, NULL);
    CHECK(sl_span_start(t, "heap", NULL, NULL) != NULL);
    sl_span_end(&b, SL_STATUS_OK, NULL, 0);
    CHECK_EQ_INT(sl_tracer_close(t), SL_OK);
    CHECK(!(a.flags & SL_SPAN_OPEN));
    CHECK_EQ_INT(sl_span_end(&a, SL_STATUS_OK, NULL, 0), SL_ESTATE);
    FILE *f = fopen(path, "r");
    char l[1024];
    int abandoned = 0, ok = 0, lines = 0;
    char ida[33];
    sl_id_to_hex(&a.id, ida);
    int a_abandoned = 0;
    while (f && fgets(l, sizeof l, f)) {
        lines++;
        if (strstr(l, "\"status\":\"abandoned\"")) {
            abandoned++;
            if (strstr(l, ida)) a_abandoned = 1;
        }
        if (strstr(l, "\"status\":\"ok\"")) ok++;
    }
    if (f) fclose(f);
    CHECK_EQ_INT(lines, 1 + 3 + 3);
    CHECK_EQ_INT(abandoned, 2);
    CHECK_EQ_INT(ok, 1);
    CHECK(a_abandoned);
    unlink(path);
}

/* names, keys and values of every short length come out whole and in
 * place (the record path copies short strings with overlapping moves) */
static void test_lengths(void)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP";
    sl_tracer *t = open_fake(5);
    for (size_t n = 0; n <= 48; n++) {
        size_t k = n ? n : 1;
        char val[64];
        for (size_t i = 0; i < n; i++) val[i] = chars[sizeof chars - 2 - i];
        sl_attr a[2] = {{chars, k, SL_ATTR_STRING, {.s = {val, n}}},
                        {"n", 1, SL_ATTR_INT, {.i = (int64_t)n}}};
        sl_start_opts o;
        memset(&o, 0, sizeof o);
        o.attrs = a;
        o.nattrs = 2;
        sl_span s;
        CHECK_EQ_INT(sl_span_begin(t, &s, chars, n, &o), SL_OK);
        CHECK_EQ_INT(sl_span_end(&s, SL_STATUS_OK, NULL, 0), SL_OK);
        char want[256];
        snprintf(want, sizeof want, "\"name\":\"%.*s\",", (int)n, chars);
        const char *m = sl_tracer_memory(t, NULL);
        CHECK(strstr(m, want) != NULL);
        snprintf(want, sizeof want, "\"attrs\":{\"%.*s\":\"%.*s\",\"n\":%d}", (int)k, chars, (int)n, val,
                 (int)n);
        CHECK(strstr(m, want) != NULL);
        sl_tracer_memory_clear(t);
    }
    sl_tracer_close(t);
}

/* sl_tracer_next_id: an id and its time, in creation order with the ids
 * sl_span_begin draws; a failure says so and leaves zeros. */
static void test_next_id(void)
{
    fake_now = 1764000000000000000ull;
    sl_tracer *t = open_fake(5);
    sl_id a, b;
    uint64_t ta, tb;
    CHECK_EQ_INT(sl_tracer_next_id(t, &a, &ta), SL_OK);
    CHECK(ta == fake_now && !sl_id_is_zero(&a));
    sl_span s;
    CHECK_EQ_INT(sl_span_begin(t, &s, "x", 1, NULL), SL_OK);
    CHECK_EQ_INT(sl_tracer_next_id(t, &b, &tb), SL_OK);
    CHECK(tb > ta && memcmp(&a, &s.id, 16) < 0 && memcmp(&s.id, &b, 16) < 0);
    CHECK_EQ_INT(sl_tracer_next_id(NULL, &b, &tb), SL_EINVAL);
    CHECK(sl_id_is_zero(&b) && tb == 0);
    CHECK_EQ_INT(sl_tracer_next_id(t, NULL, &tb), SL_EINVAL);
    CHECK_EQ_INT(sl_tracer_next_id(t, &b, NULL), SL_EINVAL);
    sl_span_end(&s, SL_STATUS_OK, NULL, 0);
    sl_tracer_close(t);
}

/* Names, keys, values and config strings are copied during the call: the
 * caller's buffers may change right after (spanline.h, "Ownership"). */
static void test_copied_at_call(void)
{
    char service[8] = "svc", name[8] = "name", key[8] = "key", value[8] = "value", err[8] = "oops";
    sl_config c;
    sl_config_init(&c);
    c.sink = SL_SINK_MEMORY;
    c.service = service;
    c.host = "h";
    sl_tracer *t = sl_tracer_open(&c, NULL);
    strcpy(service, "XXX");
    sl_attr a = {key, 3, SL_ATTR_STRING, {.s = {value, 5}}};
    sl_start_opts o;
    memset(&o, 0, sizeof o);
    o.attrs = &a;
    o.nattrs = 1;
    sl_span s;
    CHECK_EQ_INT(sl_span_begin(t, &s, name, 4, &o), SL_OK);
    CHECK_EQ_INT(sl_span_attr_str(&s, key, value), SL_OK);
    CHECK_EQ_INT(sl_span_end(&s, SL_STATUS_ERROR, err, 4), SL_OK);
    strcpy(name, "XXXX");
    strcpy(key, "XXX");
    strcpy(value, "XXXXX");
    strcpy(err, "XXXX");
    CHECK_EQ_INT(sl_tracer_flush(t), SL_OK);
    size_t len;
    const char *m = sl_tracer_memory(t, &len);
    CHECK(strstr(m, "\"service\":\"svc\"") != NULL);
    CHECK(strstr(m, "\"name\":\"name\"") != NULL);
    CHECK(strstr(m, "\"attrs\":{\"key\":\"value\"}") != NULL);
    CHECK(strstr(m, "\"error\":\"oops\"") != NULL);
    CHECK(strstr(m, "XX") == NULL);
    sl_tracer_close(t);
}

int main(void)
{
    test_format();
    test_lengths();
    test_next_id();
    test_copied_at_call();
    test_remote_parent();
    test_args_and_heap();
    test_close_abandons();
    return CHECK_DONE();
}
