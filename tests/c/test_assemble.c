/*
 * test_assemble.c: the span assembler (sl_assembler_*) in its three modes:
 * links in any arrival order, late children, orphans re-parented, parent
 * cycles cut, W3C (16-hex) parents, self time with overlapping and
 * outliving children, events and attrs, open spans at EOF, duplicate ids,
 * js-logger input through the reader, and bounded memory when streaming.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "spanline.h"

#define MS 1000000ull
#define T0 1764000000000000000ull

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("SPANLINE_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    char *buf = slurp(path, len);
    if (!buf) fprintf(stderr, "cannot read %s\n", path);
    return buf;
}

/* Every record of a JSONL text, in order (records point into text). */
typedef struct recs {
    sl_record *r;
    size_t n;
    char **copies;
} recs;

static recs read_all(const char *text, size_t len)
{
    recs out = { NULL, 0, NULL };
    sl_reader *rd = sl_reader_open_mem(text, len, NULL, NULL);
    sl_record rec;
    size_t cap = 0;
    while (sl_reader_next(rd, &rec) == SL_OK) {
        if (out.n == cap) {
            cap = cap ? cap * 2 : 64;
            out.r = realloc(out.r, cap * sizeof *out.r);
            out.copies = realloc(out.copies, cap * sizeof *out.copies);
        }
        /* the reader's strings live until its next call: copy them */
        size_t total = rec.name_len + rec.status_len + rec.error_len + rec.attrs_len + rec.raw_len + 8;
        char *c = malloc(total), *p = c;
#define KEEP(f, l) if (rec.f) { memcpy(p, rec.f, rec.l); rec.f = p; p += rec.l; *p++ = 0; }
        KEEP(name, name_len) KEEP(status, status_len) KEEP(error, error_len)
        KEEP(attrs_json, attrs_len) KEEP(raw, raw_len)
#undef KEEP
        rec.service = rec.host = rec.format = NULL;
        out.copies[out.n] = c;
        out.r[out.n++] = rec;
    }
    sl_reader_close(rd);
    return out;
}

static void recs_free(recs *rs)
{
    for (size_t i = 0; i < rs->n; i++) free(rs->copies[i]);
    free(rs->copies);
    free(rs->r);
}

static sl_assembler *new_asm(sl_asm_mode mode, int raw)
{
    sl_assembler_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.keep_raw = raw;
    sl_assembler *a = sl_assembler_new(&o, NULL);
    CHECK(a != NULL);
    return a;
}

static sl_id nid(unsigned n)
{
    sl_id id;
    memset(&id, 0, sizeof id);
    id.bytes[15] = (uint8_t)n;
    id.bytes[14] = (uint8_t)(n >> 8);
    id.bytes[13] = (uint8_t)(n >> 16);
    return id;
}

static sl_aspan get_n(sl_assembler *a, unsigned n)
{
    sl_id id = nid(n);
    sl_aspan s;
    memset(&s, 0, sizeof s);
    uint32_t r = sl_assembler_find(a, &id);
    CHECK(r != SL_NO_SPAN);
    if (r != SL_NO_SPAN) sl_assembler_get(a, r, &s);
    return s;
}

static unsigned low(const sl_id *id)
{
    return (unsigned)id->bytes[15] | (unsigned)id->bytes[14] << 8 | (unsigned)id->bytes[13] << 16;
}

static int name_is(const sl_aspan *s, const char *name)
{
    return s->name && s->name_len == strlen(name) && memcmp(s->name, name, s->name_len) == 0;
}

/* ===== RECORDS BUILT BY HAND ===== */

static sl_record st(unsigned n, unsigned parent, uint64_t ts)
{
    sl_record r;
    memset(&r, 0, sizeof r);
    r.type = SL_REC_START;
    r.id = nid(n);
    if (parent) {
        r.parent = nid(parent);
        r.has_parent = 1;
    }
    r.name = "s";
    r.name_len = 1;
    r.ts = ts;
    return r;
}

static sl_record en(unsigned n, uint64_t ts)
{
    sl_record r;
    memset(&r, 0, sizeof r);
    r.type = SL_REC_END;
    r.id = nid(n);
    r.ts = ts;
    r.status = "ok";
    r.status_len = 2;
    return r;
}

static void add(sl_assembler *a, sl_record r)
{
    CHECK_EQ_INT(sl_assembler_add(a, &r), SL_OK);
}

/* ===== KEEP ===== */

static void check_basic(sl_assembler *a)
{
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.spans, 12);
    sl_aspan root = get_n(a, 1);
    CHECK(name_is(&root, "request"));
    CHECK_EQ_INT(root.start, T0);
    CHECK_EQ_INT(root.finish, T0 + 100 * MS);
    CHECK_EQ_INT(root.nchildren, 3);
    CHECK_EQ_INT(root.depth, 0);
    /* 100 - |[10,40] u [30,60] u [90,100 (render clipped)]| = 100 - 60 */
    CHECK_EQ_INT(root.self, 40 * MS);
    CHECK_EQ_INT(get_n(a, 3).self, 20 * MS);
    CHECK_EQ_INT(get_n(a, 2).self, 30 * MS);
    CHECK_EQ_INT(get_n(a, 5).self, 30 * MS);  /* outlives its parent: its own self is whole */
    CHECK_EQ_INT(get_n(a, 6).self, 6 * MS);   /* 10 - 4 */
    sl_aspan s4 = get_n(a, 4);
    CHECK_EQ_INT(s4.depth, 2);
    CHECK_EQ_INT(s4.parent_ref, get_n(a, 3).ref);
    CHECK_EQ_INT(low(&s4.trace), 1);
    sl_aspan s3 = get_n(a, 3);
    CHECK(s3.status_len == 5 && memcmp(s3.status, "error", 5) == 0);
    CHECK(s3.error && s3.error_len == 7 && memcmp(s3.error, "timeout", 7) == 0);
    sl_aspan w = get_n(a, 8);
    CHECK(w.status_len == 4 && memcmp(w.status, "open", 4) == 0);
    CHECK_EQ_INT(w.self, -1);
    sl_aspan o = get_n(a, 9);
    CHECK(o.flags & SL_ASPAN_ORPHAN);
    CHECK_EQ_INT(low(&o.parent), 255);
    sl_aspan h = get_n(a, 10);
    CHECK(h.flags & SL_ASPAN_REMOTE_PARENT);
    CHECK(h.flags & SL_ASPAN_ORPHAN);
    CHECK_EQ_INT(h.trace.bytes[0], 0x4b);
    /* the child that arrived before its parent is re-parented */
    sl_aspan c = get_n(a, 12), p = get_n(a, 11);
    CHECK(!(c.flags & SL_ASPAN_ORPHAN));
    CHECK_EQ_INT(c.parent_ref, p.ref);
    CHECK_EQ_INT(c.depth, 1);
    CHECK_EQ_INT(p.self, 8 * MS);  /* 11 - 3 */
    CHECK(p.status_len == 9 && memcmp(p.status, "abandoned", 9) == 0);
}

static void test_keep_basic(void)
{
    size_t len;
    char *text = fixture("query_basic.jsonl", &len);
    if (!text) { CHECK(0); return; }
    recs rs = read_all(text, len);
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    for (size_t i = 0; i < rs.n; i++) CHECK_EQ_INT(sl_assembler_add(a, &rs.r[i]), SL_OK);
    check_basic(a);
    /* roots (and orphans) in arrival order */
    const uint32_t *roots;
    size_t n = sl_assembler_roots(a, &roots);
    unsigned want[] = { 1, 6, 8, 9, 10, 11 };
    CHECK_EQ_INT(n, 6);
    for (size_t i = 0; i < n && i < 6; i++) {
        sl_aspan s;
        sl_assembler_get(a, roots[i], &s);
        CHECK_EQ_INT(low(&s.id), want[i]);
    }
    /* children by start */
    uint32_t kids[8];
    CHECK_EQ_INT(sl_assembler_children(a, get_n(a, 1).ref, kids, 8), 3);
    sl_aspan k;
    sl_assembler_get(a, kids[0], &k);
    CHECK_EQ_INT(low(&k.id), 2);
    sl_assembler_get(a, kids[2], &k);
    CHECK_EQ_INT(low(&k.id), 5);
    /* attrs (start, then attr records) and events */
    size_t pos = 0;
    const char *json;
    size_t jl;
    uint32_t r6 = get_n(a, 6).ref, r2 = get_n(a, 2).ref;
    CHECK(sl_assembler_attrs_next(a, r2, &pos, &json, &jl));
    CHECK(jl == strlen("{\"sql\":\"select 1\",\"rows\":3}") && memcmp(json, "{\"sql\"", 6) == 0);
    CHECK(!sl_assembler_attrs_next(a, r2, &pos, &json, &jl));
    pos = 0;
    CHECK(sl_assembler_attrs_next(a, r6, &pos, &json, &jl));
    CHECK(jl == strlen("{\"http.status\":200}"));
    sl_aevent ev;
    pos = 0;
    CHECK_EQ_INT(get_n(a, 6).nevents, 1);
    CHECK(sl_assembler_event_next(a, r6, &pos, &ev));
    CHECK(ev.name_len == 5 && memcmp(ev.name, "retry", 5) == 0);
    CHECK_EQ_INT(ev.ts, T0 + 202 * MS);
    CHECK(ev.attrs_json && ev.attrs_len == strlen("{\"attempt\":2}"));
    CHECK(!sl_assembler_event_next(a, r6, &pos, &ev));
    size_t ml;
    CHECK(sl_assembler_meta(a, &ml) != NULL && memmem(sl_assembler_meta(a, &ml), ml, "\"pid\":7", 7));
    sl_assembler_free(a);

    /* any arrival order gives the same spans: reversed, and odd/even interleaved */
    for (int order = 0; order < 2; order++) {
        sl_assembler *b = new_asm(SL_ASM_KEEP, 0);
        for (size_t i = 0; i < rs.n; i++) {
            size_t j = order == 0 ? rs.n - 1 - i : (i * 2 < rs.n ? i * 2 : (i * 2 - rs.n) | 1);
            if (j >= rs.n) j = rs.n - 1 - i;
            CHECK_EQ_INT(sl_assembler_add(b, &rs.r[j]), SL_OK);
        }
        if (order == 0) check_basic(b);
        sl_asm_stats stt;
        sl_assembler_stats(b, &stt);
        CHECK_EQ_INT(stt.cycles, 0);
        sl_assembler_free(b);
    }
    recs_free(&rs);
    free(text);
}

static void test_cycles(void)
{
    /* a's parent is b, b's parent is a: b links under a (known); re-parenting
     * a under b would close the cycle */
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    add(a, st(1, 2, 10));
    add(a, st(2, 1, 20));
    add(a, en(1, 30));
    add(a, en(2, 40));
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.cycles, 1);
    sl_aspan x = get_n(a, 1), y = get_n(a, 2);
    CHECK(x.flags & SL_ASPAN_CYCLE);
    CHECK(x.flags & SL_ASPAN_ORPHAN);
    CHECK_EQ_INT(x.parent_ref, SL_NO_SPAN);
    CHECK_EQ_INT(y.parent_ref, x.ref);
    CHECK_EQ_INT(y.depth, 1);
    const uint32_t *roots;
    CHECK_EQ_INT(sl_assembler_roots(a, &roots), 1);
    sl_assembler_free(a);

    /* its own parent */
    a = new_asm(SL_ASM_KEEP, 0);
    add(a, st(1, 1, 10));
    add(a, en(1, 20));
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.cycles, 1);
    x = get_n(a, 1);
    CHECK(x.flags & SL_ASPAN_CYCLE);
    CHECK_EQ_INT(x.nchildren, 0);
    CHECK_EQ_INT(x.self, 10);
    sl_assembler_free(a);

    /* three spans; and one closed by a span seen (its end) before its start */
    a = new_asm(SL_ASM_KEEP, 0);
    add(a, st(1, 3, 10));
    add(a, st(2, 1, 11));
    add(a, st(3, 2, 12));
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.cycles, 1);
    sl_assembler_free(a);
    a = new_asm(SL_ASM_KEEP, 0);
    add(a, en(2, 50));
    add(a, st(3, 2, 10));
    add(a, st(2, 3, 5));
    add(a, en(3, 20));
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.cycles, 1);
    sl_assembler_free(a);
}

static void test_deep_chains(void)
{
    enum { N = 100000 };
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    for (unsigned i = 1; i <= N; i++) add(a, st(i, i > 1 ? i - 1 : 0, i));
    for (unsigned i = N; i >= 1; i--) add(a, en(i, 3 * N - i));
    CHECK_EQ_INT(get_n(a, N).depth, N - 1);
    /* each span [i, 3N - i] minus its child [i + 1, 3N - i - 1] = 2 */
    CHECK_EQ_INT(get_n(a, 1).self, 2);
    sl_assembler_free(a);

    /* a chain arriving leaf first is re-parented level by level */
    enum { M = 2000 };
    a = new_asm(SL_ASM_KEEP, 0);
    for (unsigned i = M; i >= 1; i--) add(a, st(i, i > 1 ? i - 1 : 0, i));
    CHECK_EQ_INT(get_n(a, M).depth, M - 1);
    CHECK_EQ_INT(get_n(a, M).trace.bytes[15], 1);  /* inherited from the root */
    const uint32_t *roots;
    CHECK_EQ_INT(sl_assembler_roots(a, &roots), 1);
    sl_assembler_free(a);
}

static void test_self_unsorted(void)
{
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    add(a, st(1, 0, 0));
    static const uint64_t iv[][2] = { { 50, 70 }, { 10, 20 }, { 15, 30 }, { 90, 120 }, { 60, 65 } };
    for (unsigned i = 0; i < 5; i++) {
        add(a, st(i + 2, 1, iv[i][0]));
        add(a, en(i + 2, iv[i][1]));
    }
    add(a, en(1, 100));
    /* union of [10,30], [50,70], [90,100] = 50 of 100 */
    CHECK_EQ_INT(get_n(a, 1).self, 50);
    /* a child starting after its parent ended still counts (clipped) */
    add(a, st(9, 1, 95));
    CHECK_EQ_INT(get_n(a, 1).self, 50);
    add(a, st(10, 1, 40));
    add(a, en(10, 45));
    CHECK_EQ_INT(get_n(a, 1).self, 45);
    sl_assembler_free(a);
}

static void test_duplicates(void)
{
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    add(a, st(1, 0, 10));
    add(a, st(1, 0, 12));
    add(a, en(1, 20));
    add(a, en(1, 25));
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.duplicates, 2);
    sl_aspan s = get_n(a, 1);
    CHECK(s.flags & SL_ASPAN_DUPLICATE);
    CHECK_EQ_INT(s.start, 10);   /* the first start and end count */
    CHECK_EQ_INT(s.finish, 20);
    sl_assembler_free(a);
}

/* ===== STREAM ===== */

static void test_stream_basic(void)
{
    size_t len;
    char *text = fixture("query_basic.jsonl", &len);
    if (!text) { CHECK(0); return; }
    recs rs = read_all(text, len);
    sl_assembler *a = new_asm(SL_ASM_STREAM, 1);
    unsigned got[16], n = 0;
    int64_t self_of_root = 0;
    sl_aspan s;
    for (size_t i = 0; i < rs.n; i++) {
        CHECK_EQ_INT(sl_assembler_add(a, &rs.r[i]), SL_OK);
        while (sl_assembler_next(a, &s) == SL_OK) {
            if (n < 16) got[n++] = low(&s.id);
            if (low(&s.id) == 1) self_of_root = s.self;
            if (low(&s.id) == 2) {
                size_t pos = 0, l;
                const char *line;
                CHECK(sl_assembler_raw_next(a, s.ref, &pos, &line, &l));
                CHECK(l == rs.r[2].raw_len + 1 && memcmp(line, rs.r[2].raw, l - 1) == 0 && line[l - 1] == '\n');
            }
        }
    }
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_EAGAIN);
    CHECK_EQ_INT(sl_assembler_finish(a), SL_OK);
    while (sl_assembler_next(a, &s) == SL_OK) {
        if (n < 16) got[n++] = low(&s.id);
        if (low(&s.id) == 8) CHECK(s.status_len == 4 && memcmp(s.status, "open", 4) == 0);
    }
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_EOF);
    /* end order; the open span last; the early child (12) ended before its
     * parent started, so it came out an orphan */
    unsigned want[] = { 2, 4, 3, 1, 5, 7, 6, 9, 10, 12, 11, 8 };
    CHECK_EQ_INT(n, 12);
    for (unsigned i = 0; i < n && i < 12; i++) CHECK_EQ_INT(got[i], want[i]);
    CHECK_EQ_INT(self_of_root, 40 * MS);
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.spans, 0);
    CHECK_EQ_INT(stt.traces, 0);
    sl_assembler_free(a);
    recs_free(&rs);
    free(text);
}

static void feed_text(sl_assembler *a, const char *text)
{
    sl_reader *r = sl_reader_open_mem(text, strlen(text), NULL, NULL);
    sl_record rec;
    while (sl_reader_next(r, &rec) == SL_OK) CHECK_EQ_INT(sl_assembler_add(a, &rec), SL_OK);
    sl_reader_close(r);
}

/* root [0,100] with children a [10,40], b [30,60] (overlap), c [90, open];
 * an orphan; an event and attrs on a; raw lines kept. */
static void test_stream_overlap_open_child(void)
{
#define ID(n) "0000000000000000000000000000000" #n
    const char *text =
        "{\"type\":\"meta\",\"format\":\"spanline/1\"}\n"
        "{\"type\":\"start\",\"id\":\"" ID(1) "\",\"name\":\"root\",\"ts\":1000}\n"
        "{\"type\":\"start\",\"id\":\"" ID(2) "\",\"parent\":\"" ID(1) "\",\"name\":\"a\",\"ts\":1010,\"attrs\":{\"x\":1}}\n"
        "{\"type\":\"event\",\"id\":\"" ID(2) "\",\"name\":\"e\",\"ts\":1020}\n"
        "{\"type\":\"start\",\"id\":\"" ID(3) "\",\"parent\":\"" ID(1) "\",\"name\":\"b\",\"ts\":1030}\n"
        "{\"type\":\"end\",\"id\":\"" ID(2) "\",\"ts\":1040,\"status\":\"ok\"}\n"
        "{\"type\":\"end\",\"id\":\"" ID(3) "\",\"ts\":1060,\"status\":\"error\",\"error\":\"x\"}\n"
        "{\"type\":\"start\",\"id\":\"" ID(4) "\",\"parent\":\"" ID(1) "\",\"name\":\"c\",\"ts\":1090}\n"
        "{\"type\":\"end\",\"id\":\"" ID(1) "\",\"ts\":1100,\"status\":\"ok\"}\n"
        "{\"type\":\"start\",\"id\":\"" ID(5) "\",\"parent\":\"000000000000000000000000000000ff\",\"name\":\"o\",\"ts\":1200}\n";
#undef ID
    sl_assembler *a = new_asm(SL_ASM_STREAM, 1);
    feed_text(a, text);
    sl_aspan s;
    size_t pos, l;
    const char *p;
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_OK);
    CHECK(name_is(&s, "a"));
    CHECK_EQ_INT(s.depth, 1);
    CHECK_EQ_INT(s.nevents, 1);
    CHECK_EQ_INT(s.self, 30);
    pos = 0;
    int lines = 0, event_line = 0;
    while (sl_assembler_raw_next(a, s.ref, &pos, &p, &l)) {
        lines++;
        if (memmem(p, l, "\"event\"", 7)) event_line = 1;
    }
    CHECK_EQ_INT(lines, 3);
    CHECK(event_line);
    pos = 0;
    CHECK(sl_assembler_attrs_next(a, s.ref, &pos, &p, &l) && l == 7 && memcmp(p, "{\"x\":1}", 7) == 0);
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_OK);
    CHECK(name_is(&s, "b"));
    CHECK(s.error && s.error_len == 1 && s.error[0] == 'x');
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_OK);
    CHECK(name_is(&s, "root"));
    /* 100 - union([10,60], [90,100 clipped open child]) = 100 - 60 */
    CHECK_EQ_INT(s.self, 40);
    CHECK_EQ_INT(s.depth, 0);
    CHECK(!(s.flags & SL_ASPAN_ORPHAN));
    CHECK_EQ_INT(low(&s.trace), 1);
    CHECK_EQ_INT(s.pending_children, 1);   /* c is open: root stays a ghost */
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_EAGAIN);
    sl_assembler_finish(a);
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_OK);  /* open at EOF, by start: c then o */
    CHECK(name_is(&s, "c"));
    CHECK(!(s.flags & SL_ASPAN_ENDED));
    CHECK(s.parent_released);
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_OK);
    CHECK(name_is(&s, "o"));
    CHECK(s.flags & SL_ASPAN_ORPHAN);
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_EOF);
    CHECK(sl_assembler_meta(a, &l) != NULL);
    sl_assembler_free(a);
}

static void test_stream_remote_parent(void)
{
    size_t len;
    char *text = fixture("query_remote.jsonl", &len);
    if (!text) { CHECK(0); return; }
    sl_assembler *a = new_asm(SL_ASM_STREAM, 0);
    feed_text(a, text);
    sl_aspan s[8];
    /* spans are copied out before the next call: only flags, depth, self */
    int n = 0, depth[8], orphan[8];
    int64_t self[8];
    char names[8][16];
    sl_assembler_finish(a);
    while (n < 8 && sl_assembler_next(a, &s[0]) == SL_OK) {
        depth[n] = (int)s[0].depth;
        orphan[n] = (s[0].flags & SL_ASPAN_ORPHAN) != 0;
        self[n] = s[0].self;
        snprintf(names[n], 16, "%.*s", (int)s[0].name_len, s[0].name);
        n++;
    }
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_STR(names[0], "db.query");
    CHECK_EQ_INT(depth[0], 2);
    CHECK_EQ_STR(names[1], "handler");
    CHECK_EQ_INT(depth[1], 1);
    CHECK(!orphan[1]);
    CHECK_EQ_STR(names[2], "lost");
    CHECK(orphan[2]);
    CHECK_EQ_STR(names[3], "server");
    CHECK_EQ_INT(self[3], 5 * MS);   /* 10 - handler [1,6] */
    sl_assembler_free(a);
    free(text);
}

/* A span that ends while a child is open stays known (a ghost): a child
 * starting after it ended links to it (also by a W3C tail); once it and
 * every child it had were handed out, a later child is an orphan. */
static void test_stream_late_child(void)
{
    size_t len;
    char *text = fixture("query_late.jsonl", &len);
    if (!text) { CHECK(0); return; }
    sl_assembler *a = new_asm(SL_ASM_STREAM, 0);
    recs rs = read_all(text, len);
    char order[8][16];
    int n = 0, released_by = -1, depth[8], orphan[8];
    int64_t self_p = 0;
    sl_aspan s;
    for (size_t i = 0; i <= rs.n; i++) {
        if (i < rs.n) CHECK_EQ_INT(sl_assembler_add(a, &rs.r[i]), SL_OK);
        else sl_assembler_finish(a);
        while (n < 8 && sl_assembler_next(a, &s) == SL_OK) {
            snprintf(order[n], 16, "%.*s", (int)s.name_len, s.name);
            depth[n] = (int)s.depth;
            orphan[n] = (s.flags & SL_ASPAN_ORPHAN) != 0;
            if (name_is(&s, "parent")) {
                self_p = s.self;
                CHECK_EQ_INT(s.pending_children, 1);  /* the worker */
            }
            if (s.parent_released) released_by = n;
            n++;
        }
    }
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_STR(order[0], "parent");
    CHECK_EQ_INT(self_p, 1 * MS);   /* [0,10] minus the open worker from 1 */
    CHECK_EQ_STR(order[1], "late.remote");
    CHECK_EQ_INT(depth[1], 2);
    CHECK_EQ_STR(order[2], "late");
    CHECK_EQ_INT(depth[2], 1);
    CHECK(!orphan[2]);
    CHECK_EQ_STR(order[3], "worker");
    CHECK_EQ_INT(released_by, 3);   /* the parent's last pending child */
    CHECK_EQ_STR(order[4], "forgotten");
    CHECK(orphan[4]);
    CHECK_EQ_INT(depth[4], 0);
    sl_assembler_free(a);
    recs_free(&rs);
    free(text);
}

static void test_stream_open_at_eof(void)
{
    sl_assembler *a = new_asm(SL_ASM_STREAM, 0);
    add(a, st(1, 0, 50));
    add(a, st(2, 0, 10));
    add(a, st(3, 2, 20));
    sl_aspan s[4];
    CHECK_EQ_INT(sl_assembler_next(a, &s[0]), SL_EAGAIN);
    sl_assembler_finish(a);
    unsigned ids[4];
    int64_t selfs[4];
    int n = 0;
    while (n < 4 && sl_assembler_next(a, &s[0]) == SL_OK) {
        ids[n] = low(&s[0].id);
        selfs[n] = s[0].self;
        n++;
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(ids[0], 2);   /* by start */
    CHECK_EQ_INT(ids[1], 3);
    CHECK_EQ_INT(ids[2], 1);
    CHECK_EQ_INT(selfs[0], -1);
    CHECK_EQ_INT(sl_assembler_add(a, &(sl_record){ .type = SL_REC_START }), SL_ESTATE);
    sl_assembler_free(a);
}

/* The tail of a stream: spans whose start came before it are handed out
 * with an end record only, and counted. */
static void test_stream_ends_only(void)
{
    sl_assembler *a = new_asm(SL_ASM_STREAM, 0);
    add(a, en(7, 15));
    add(a, st(1, 0, 10));
    add(a, en(1, 20));
    add(a, en(8, 25));
    sl_assembler_finish(a);
    sl_aspan s;
    int started = 0, ended_only = 0;
    while (sl_assembler_next(a, &s) == SL_OK) {
        if (s.flags & SL_ASPAN_STARTED) started++;
        else ended_only++;
    }
    CHECK_EQ_INT(started, 1);
    CHECK_EQ_INT(ended_only, 2);
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.ends_only, 2);
    sl_assembler_free(a);
}

/* 10^5 sequential two-level traces: the assembler keeps at most the open
 * ones, whatever the length of the stream. */
static void test_stream_memory(void)
{
    sl_assembler *a = new_asm(SL_ASM_STREAM, 0);
    sl_aspan s;
    uint64_t most = 0, handed = 0;
    for (unsigned k = 0; k < 100000; k++) {
        unsigned root = 2 * k + 1, child = 2 * k + 2;
        add(a, st(root, 0, k * 10));
        add(a, st(child, root, k * 10 + 1));
        add(a, en(child, k * 10 + 2));
        add(a, en(root, k * 10 + 3));
        while (sl_assembler_next(a, &s) == SL_OK) handed++;
        sl_asm_stats stt;
        sl_assembler_stats(a, &stt);
        if (stt.spans > most) most = stt.spans;
    }
    CHECK_EQ_INT(handed, 200000);
    CHECK(most <= 2);
    sl_assembler_free(a);
}

/* ===== TRACES ===== */

static void test_traces_basic(void)
{
    size_t len;
    char *text = fixture("query_basic.jsonl", &len);
    if (!text) { CHECK(0); return; }
    recs rs = read_all(text, len);
    sl_assembler *a = new_asm(SL_ASM_TRACES, 0);
    unsigned order[8], spans[8], roots[8];
    int n = 0;
    sl_atrace t;
    for (size_t i = 0; i <= rs.n; i++) {
        if (i < rs.n) CHECK_EQ_INT(sl_assembler_add(a, &rs.r[i]), SL_OK);
        else sl_assembler_finish(a);
        while (n < 8 && sl_assembler_next_trace(a, &t) == SL_OK) {
            order[n] = t.id.bytes[0] == 0x4b ? 0x4b : low(&t.id);
            spans[n] = t.nspans;
            roots[n] = (unsigned)t.nroots;
            if (low(&t.id) == 1) {
                /* the whole tree is readable until the next call */
                sl_aspan r;
                sl_assembler_get(a, t.roots[0], &r);
                CHECK(name_is(&r, "request"));
                CHECK_EQ_INT(r.self, 40 * MS);
                uint32_t kids[4];
                CHECK_EQ_INT(sl_assembler_children(a, r.ref, kids, 4), 3);
            }
            n++;
        }
    }
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_EOF);
    /* completion order: 1, 6, the remote child, the late parent with its
     * early child; at the end the open one and the orphan waiting for 0xff */
    unsigned want[] = { 1, 6, 0x4b, 11, 8, 254 };
    unsigned want_spans[] = { 5, 2, 1, 2, 1, 1 };
    CHECK_EQ_INT(n, 6);
    for (int i = 0; i < n && i < 6; i++) {
        CHECK_EQ_INT(order[i], want[i]);
        CHECK_EQ_INT(spans[i], want_spans[i]);
        CHECK_EQ_INT(roots[i], 1);
    }
    sl_asm_stats stt;
    sl_assembler_stats(a, &stt);
    CHECK_EQ_INT(stt.spans, 0);
    sl_assembler_free(a);
    recs_free(&rs);
    free(text);
}

/* 10^4 traces of 10 spans, one after another: at most one trace is kept;
 * a span of a trace already handed out comes out later on its own. */
static void test_traces_memory_and_late(void)
{
    sl_assembler *a = new_asm(SL_ASM_TRACES, 0);
    sl_atrace t;
    uint64_t most = 0, traces = 0;
    for (unsigned k = 0; k < 10000; k++) {
        unsigned root = 10 * k + 1;
        add(a, st(root, 0, k * 100));
        for (unsigned c = 1; c < 10; c++) {
            add(a, st(root + c, root, k * 100 + c));
            add(a, en(root + c, k * 100 + c + 1));
        }
        add(a, en(root, k * 100 + 50));
        sl_asm_stats stt;
        sl_assembler_stats(a, &stt);
        if (stt.spans > most) most = stt.spans;
        while (sl_assembler_next_trace(a, &t) == SL_OK) {
            traces++;
            CHECK_EQ_INT(t.nspans, 10);
        }
    }
    CHECK_EQ_INT(traces, 10000);
    CHECK(most <= 10);
    /* late: a child of the first trace, long gone */
    add(a, st(999999, 1, 5));
    add(a, en(999999, 6));
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_EAGAIN);  /* waits for its parent */
    sl_assembler_finish(a);
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_OK);
    CHECK_EQ_INT(t.nspans, 1);
    sl_aspan s;
    sl_assembler_get(a, t.roots[0], &s);
    CHECK(s.flags & SL_ASPAN_ORPHAN);
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_EOF);
    sl_assembler_free(a);
}

static void test_jslogger(void)
{
    size_t len;
    char *text = fixture("js-logger/polykey-cli-agent-start.jsonl", &len);
    if (!text) { CHECK(0); return; }
    sl_assembler *a = new_asm(SL_ASM_TRACES, 1);
    feed_text(a, text);
    sl_assembler_finish(a);
    sl_atrace t;
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_OK);
    CHECK_EQ_INT(t.nspans, 759);
    CHECK_EQ_INT(t.nroots, 1);
    sl_aspan root;
    sl_assembler_get(a, t.roots[0], &root);
    CHECK(name_is(&root, "polykeyRoot"));
    /* js-logger records carry no trace: every span takes the root's id */
    CHECK(memcmp(root.trace.bytes, root.id.bytes, 16) == 0);
    CHECK(root.finish > root.start);
    /* raw lines are re-encoded as spanline/1 */
    size_t pos = 0, l;
    const char *line;
    CHECK(sl_assembler_raw_next(a, root.ref, &pos, &line, &l));
    CHECK(l > 20 && memcmp(line, "{\"type\":\"start\"", 15) == 0);
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_EOF);
    sl_assembler_free(a);
    free(text);
}

/* KEEP extras: the change list, the by-start index, name search. */
static void test_keep_index(void)
{
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    sl_assembler_track(a, 1);
    add(a, st(1, 0, 10));
    add(a, st(2, 1, 30));
    add(a, st(3, 1, 20));
    add(a, en(2, 35));
    const uint32_t *refs;
    CHECK_EQ_INT(sl_assembler_changes(a, &refs), 3);   /* 1, 2, 3: 2 once */
    CHECK_EQ_INT(sl_assembler_changes(a, &refs), 0);
    add(a, en(1, 50));
    CHECK_EQ_INT(sl_assembler_changes(a, &refs), 1);
    CHECK_EQ_INT(refs[0], get_n(a, 1).ref);
    int resorted;
    size_t n = sl_assembler_by_start(a, &refs, &resorted);
    CHECK_EQ_INT(n, 3);
    CHECK(resorted);                                    /* 3 starts before 2 */
    sl_aspan s;
    unsigned want[] = { 1, 3, 2 };
    for (size_t i = 0; i < n && i < 3; i++) {
        sl_assembler_get(a, refs[i], &s);
        CHECK_EQ_INT(low(&s.id), want[i]);
    }
    add(a, en(9, 60));                                  /* seen before its start */
    add(a, st(4, 1, 40));
    n = sl_assembler_by_start(a, &refs, &resorted);
    CHECK_EQ_INT(n, 4);
    CHECK(!resorted);                                   /* appended in order */
    add(a, st(9, 0, 5));
    n = sl_assembler_by_start(a, &refs, &resorted);
    CHECK_EQ_INT(n, 5);
    CHECK(resorted);
    sl_assembler_get(a, refs[0], &s);
    CHECK_EQ_INT(low(&s.id), 9);
    /* search: names are all "s": every started span matches; tree order */
    const uint32_t *found;
    size_t before;
    uint32_t root = get_n(a, 1).ref;
    n = sl_assembler_search(a, &root, 1, 1, "S", 1, get_n(a, 2).ref, &found, &before);
    CHECK_EQ_INT(n, 4);                                 /* 1, 3, 2, 4 */
    sl_assembler_get(a, found[1], &s);
    CHECK_EQ_INT(low(&s.id), 3);
    CHECK_EQ_INT(before, 2);
    n = sl_assembler_search(a, &root, 1, 1, "x", 1, SL_NO_SPAN, &found, &before);
    CHECK_EQ_INT(n, 0);
    CHECK(before == SIZE_MAX);
    sl_assembler_free(a);
}

/* A stream two processes wrote: select_pid keeps one process's records
 * (a start belongs to the process of the meta record before it, any other
 * record to its span's); every pid seen is listed. */
static void test_select_pid(void)
{
    const char *text =
        "{\"type\":\"meta\",\"format\":\"spanline/1\",\"pid\":11}\n"
        "{\"type\":\"start\",\"id\":\"00000000000000000000000000000001\",\"name\":\"a\",\"ts\":1}\n"
        "{\"type\":\"meta\",\"format\":\"spanline/1\",\"pid\":22}\n"
        "{\"type\":\"start\",\"id\":\"00000000000000000000000000000002\",\"name\":\"b\",\"ts\":2}\n"
        "{\"type\":\"end\",\"id\":\"00000000000000000000000000000001\",\"ts\":5,\"status\":\"ok\"}\n"
        "{\"type\":\"end\",\"id\":\"00000000000000000000000000000002\",\"ts\":6,\"status\":\"ok\"}\n";
    for (int which = 0; which < 2; which++) {
        sl_assembler_opts o;
        memset(&o, 0, sizeof o);
        o.mode = SL_ASM_KEEP;
        o.select_pid = 1;
        o.pid = which ? 22 : 11;
        sl_assembler *a = sl_assembler_new(&o, NULL);
        feed_text(a, text);
        sl_asm_stats stt;
        sl_assembler_stats(a, &stt);
        CHECK_EQ_INT(stt.spans, 1);
        CHECK_EQ_INT(stt.records, 3);               /* its meta, start and end */
        CHECK_EQ_INT(stt.metas, 1);                 /* its meta only */
        sl_aspan s = get_n(a, which ? 2 : 1);
        CHECK(s.flags & SL_ASPAN_ENDED);            /* the end went with its start */
        CHECK(sl_assembler_find(a, &(sl_id){ .bytes = { [15] = (uint8_t)(which ? 1 : 2) } }) == SL_NO_SPAN);
        const int64_t *pids;
        int more;
        CHECK_EQ_INT(sl_assembler_pids(a, &pids, &more), 2);
        CHECK_EQ_INT(pids[0], 11);
        CHECK_EQ_INT(pids[1], 22);
        CHECK(!more);
        size_t ml;
        const char *m = sl_assembler_meta(a, &ml);
        CHECK(m && memmem(m, ml, which ? "\"pid\":22" : "\"pid\":11", 8));
        sl_assembler_free(a);
    }
}

static void test_misuse(void)
{
    sl_assembler_opts o;
    memset(&o, 0, sizeof o);
    o.mode = (sl_asm_mode)7;
    sl_error err;
    CHECK(sl_assembler_new(&o, &err) == NULL);
    CHECK_EQ_INT(err.code, SL_EINVAL);
    sl_assembler *a = new_asm(SL_ASM_KEEP, 0);
    sl_aspan s;
    sl_atrace t;
    CHECK_EQ_INT(sl_assembler_next(a, &s), SL_EINVAL);
    CHECK_EQ_INT(sl_assembler_next_trace(a, &t), SL_EINVAL);
    CHECK_EQ_INT(sl_assembler_add(a, NULL), SL_EINVAL);
    CHECK_EQ_INT(sl_assembler_get(a, 12345, &s), SL_EINVAL);
    sl_assembler_free(a);
    sl_assembler_free(NULL);
}

int main(void)
{
    test_keep_basic();
    test_cycles();
    test_deep_chains();
    test_self_unsorted();
    test_duplicates();
    test_stream_basic();
    test_stream_overlap_open_child();
    test_stream_remote_parent();
    test_stream_late_child();
    test_stream_open_at_eof();
    test_stream_ends_only();
    test_stream_memory();
    test_traces_basic();
    test_traces_memory_and_late();
    test_jslogger();
    test_keep_index();
    test_select_pid();
    test_misuse();
    return CHECK_DONE();
}
