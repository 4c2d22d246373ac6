/*
 * test_reader.c: the stream reader: JSONL fields and escapes, bad lines
 * counted by number (garbage, wrong types, truncated last line, over-long
 * lines), msgpack records, js-logger ids and times, follow mode across
 * appends, truncation and rotation, and spans assembled in C.
 */
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "reader_internal.h"
#include "spanline.h"

#define ID1 "00000000000000000000000000000001"
#define ID2 "00000000000000000000000000000002"
#define ID3 "00000000000000000000000000000003"

static int streq(const char *p, size_t n, const char *want)
{
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void hex_of(const sl_id *id, char out[33])
{
    sl_id_to_hex(id, out);
}

static void test_jsonl_fields(void)
{
    const char *text =
        "{\"type\":\"meta\",\"format\":\"spanline/1\",\"pid\":42,\"service\":\"api\",\"host\":\"h1\",\"ts\":1764000000000000000}\n"
        "{\"type\":\"start\",\"id\":\"" ID1 "\",\"trace\":\"" ID1 "\",\"name\":\"a \\\"q\\\" \\u00e9\\ud83d\\ude00\",\"ts\":1764000000000000001,\"lane\":3,\"attrs\":{\"k\":\"v}\",\"n\":[1,2]}}\n"
        "\n"
        "  {\"type\":\"end\", \"id\":\"" ID1 "\", \"ts\":1764000000000000009, \"status\":\"error\", \"error\":\"bo\\nom\", \"extra\":{\"x\":[1,{\"y\":2}]}}\r\n"
        "{\"type\":\"start\",\"id\":\"" ID2 "\",\"parent\":\"00f067aa0ba902b7\",\"name\":\"r\",\"ts\":5}\n";
    sl_reader *r = sl_reader_open_mem(text, strlen(text), NULL, NULL);
    CHECK(r != NULL);
    sl_record rec;
    char hex[33];

    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_META);
    CHECK(streq(rec.format, rec.format_len, "spanline/1"));
    CHECK(streq(rec.service, rec.service_len, "api"));
    CHECK(streq(rec.host, rec.host_len, "h1"));
    CHECK_EQ_INT(rec.pid, 42);
    CHECK(rec.ts == 1764000000000000000ull);
    CHECK_EQ_INT(rec.line, 1);

    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_START);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID1);
    CHECK(rec.has_trace && !rec.has_parent);
    CHECK(streq(rec.name, rec.name_len, "a \"q\" \xc3\xa9\xf0\x9f\x98\x80"));
    CHECK(rec.ts == 1764000000000000001ull);
    CHECK_EQ_INT(rec.lane, 3);
    CHECK(streq(rec.attrs_json, rec.attrs_len, "{\"k\":\"v}\",\"n\":[1,2]}"));
    CHECK_EQ_INT(rec.line, 2);

    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);  /* blank line skipped, not bad */
    CHECK_EQ_INT(rec.type, SL_REC_END);
    CHECK_EQ_INT(rec.line, 4);
    CHECK(streq(rec.status, rec.status_len, "error"));
    CHECK(streq(rec.error, rec.error_len, "bo\nom"));

    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK(rec.has_parent && rec.parent_short);
    hex_of(&rec.parent, hex);
    CHECK_EQ_STR(hex, "000000000000000000f067aa0ba902b7");

    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 0);
    CHECK_EQ_INT(sl_reader_offset(r), strlen(text));
    sl_reader_close(r);
}

static void test_bad_lines(void)
{
    const char *text =
        "garbage\n"                                                                   /* 1 bad */
        "{\"type\":\"start\",\"id\":\"" ID1 "\",\"name\":\"a\",\"ts\":1}\n"            /* 2 ok */
        "{\"type\":\"start\",\"id\":\"" ID2 "\",\"name\":7,\"ts\":1}\n"                /* 3 bad: name type */
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":\"x\",\"status\":\"ok\"}\n"       /* 4 bad: ts type */
        "{\"type\":\"end\",\"id\":\"nothex\",\"ts\":2,\"status\":\"ok\"}\n"             /* 5 bad: id */
        "{\"type\":\"bogus\",\"id\":\"" ID1 "\",\"ts\":2}\n"                           /* 6 bad: type */
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":2,\"status\":\"ok\"} trailing\n" /* 7 bad */
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":3,\"status\":\"ok\"}\n"          /* 8 ok */
        "[1,2]\n"                                                                      /* 9 bad */
        "{\"type\":\"end\",\"id\":\"" ID1 "\",\"ts\":3,\"sta";                          /* 10 bad: truncated */
    sl_reader *r = sl_reader_open_mem(text, strlen(text), NULL, NULL);
    sl_record rec;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.line, 2);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.line, 8);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    uint64_t lines[16];
    CHECK_EQ_INT(sl_reader_bad_lines(r, lines, 16), 8);
    uint64_t want[] = { 1, 3, 4, 5, 6, 7, 9, 10 };
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(lines[i], want[i]);
    sl_reader_close(r);
}

static void test_max_line(void)
{
    char text[4096];
    int n = snprintf(text, sizeof text, "{\"type\":\"start\",\"id\":\"%s\",\"name\":\"%0300d\",\"ts\":1}\n"
                     "{\"type\":\"start\",\"id\":\"%s\",\"name\":\"b\",\"ts\":1}\n", ID1, 0, ID2);
    sl_reader_opts o = { .follow = 0, .max_line = 100 };
    sl_record rec;
    char hex[33];

    sl_reader *r = sl_reader_open_mem(text, (size_t)n, &o, NULL);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID2);
    CHECK_EQ_INT(rec.line, 2);
    uint64_t line = 0;
    CHECK_EQ_INT(sl_reader_bad_lines(r, &line, 1), 1);
    CHECK_EQ_INT(line, 1);
    sl_reader_close(r);

    /* The same through an fd (the buffered path). */
    char path[] = "/tmp/sl_test_reader_XXXXXX";
    int fd = mkstemp(path);
    CHECK(write(fd, text, (size_t)n) == n);
    lseek(fd, 0, SEEK_SET);
    r = sl_reader_open_fd(fd, &o, NULL);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.line, 2);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 1);
    sl_reader_close(r);
    close(fd);
    unlink(path);
}

static void test_jslogger(void)
{
    const char *text =
        "{\"type\":\"start\",\"id\":\"v0q12tlps9lo014t6v8f3smsl74\",\"name\":\"polykeyRoot\"}\n"
        "{\"type\":\"start\",\"id\":\"v0q12tlpvrdo018r2u4batn15lk\",\"parentId\":\"v0q12tlps9lo014t6v8f3smsl74\",\"name\":\"ss-Status\"}\n"
        "{\"type\":\"stop\",\"id\":\"v0q12tlpvrdo018r2u4batn15lo\",\"startId\":\"v0q12tlpvrdo018r2u4batn15lk\"}\n";
    sl_reader *r = sl_reader_open_mem(text, strlen(text), NULL, NULL);
    sl_record rec;
    sl_id root;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_START);
    root = rec.id;
    /* README: the first id decodes to 2025-05-13 06:57:55.769 UTC = 1747119475.769 s */
    CHECK(rec.ts / 1000000ull == 1747119475768ull || rec.ts / 1000000ull == 1747119475769ull);
    CHECK((rec.id.bytes[6] >> 4) == 7);  /* version nibble sits where IdSortable puts it */
    CHECK_EQ_INT(sl_reader_origin(r), SL_ORIGIN_JSLOGGER);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK(rec.has_parent && !rec.parent_short);
    CHECK(memcmp(rec.parent.bytes, root.bytes, 16) == 0);
    sl_id child = rec.id;
    uint64_t start = rec.ts;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_END);
    CHECK(memcmp(rec.id.bytes, child.bytes, 16) == 0);
    CHECK(streq(rec.status, rec.status_len, "ok"));
    CHECK(rec.ts >= start);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    sl_reader_close(r);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void test_msgpack(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint8_t id[16] = { 0 }, parent8[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    id[15] = 1;
    /* start with attrs */
    msgpack_pack_map(&pk, 6);
    pack_str(&pk, "type"); pack_str(&pk, "start");
    pack_str(&pk, "id"); msgpack_pack_bin(&pk, 16); msgpack_pack_bin_body(&pk, id, 16);
    pack_str(&pk, "parent"); msgpack_pack_bin(&pk, 8); msgpack_pack_bin_body(&pk, parent8, 8);
    pack_str(&pk, "name"); pack_str(&pk, "q");
    pack_str(&pk, "ts"); msgpack_pack_uint64(&pk, 1764000000000000123ull);
    pack_str(&pk, "attrs");
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "s"); pack_str(&pk, "a\"b");
    pack_str(&pk, "n"); msgpack_pack_int64(&pk, -5);
    pack_str(&pk, "l"); msgpack_pack_array(&pk, 2); msgpack_pack_true(&pk); msgpack_pack_double(&pk, 1.5);
    /* garbage byte between records */
    msgpack_sbuffer_write(&sb, "\xc1", 1);
    /* end */
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "type"); pack_str(&pk, "end");
    pack_str(&pk, "id"); msgpack_pack_bin(&pk, 16); msgpack_pack_bin_body(&pk, id, 16);
    pack_str(&pk, "ts"); msgpack_pack_uint64(&pk, 1764000000000000200ull);
    pack_str(&pk, "status"); pack_str(&pk, "ok");
    /* a truncated record */
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "type");

    sl_reader *r = sl_reader_open_mem(sb.data, sb.size, NULL, NULL);
    sl_record rec;
    char hex[33];
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_START);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID1);
    CHECK(rec.has_parent && rec.parent_short);
    hex_of(&rec.parent, hex);
    CHECK_EQ_STR(hex, "00000000000000000102030405060708");
    CHECK(rec.ts == 1764000000000000123ull);
    CHECK(streq(rec.attrs_json, rec.attrs_len, "{\"s\":\"a\\\"b\",\"n\":-5,\"l\":[true,1.5]}"));
    CHECK_EQ_INT(sl_reader_origin(r), SL_ORIGIN_MSGPACK);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(rec.type, SL_REC_END);
    CHECK(rec.ts == 1764000000000000200ull);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 2);  /* the garbage byte, the truncated tail */
    sl_reader_close(r);
    msgpack_sbuffer_destroy(&sb);
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void test_follow(void)
{
    char path[] = "/tmp/sl_test_follow_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    const char *l1 = "{\"type\":\"start\",\"id\":\"" ID1 "\",\"name\":\"a\",\"ts\":1}\n";
    const char *l2 = "{\"type\":\"start\",\"id\":\"" ID2 "\",\"name\":\"b\",\"ts\":2}\n";
    const char *l3 = "{\"type\":\"start\",\"id\":\"" ID3 "\",\"name\":\"c\",\"ts\":3}\n";
    append(path, l1);
    sl_reader_opts o = { .follow = 1, .max_line = 0 };
    sl_reader *r = sl_reader_open_path(path, &o, NULL);
    sl_record rec;
    char hex[33];
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EAGAIN);

    /* Half a line: not a record yet, not a bad line. */
    append(path, "{\"type\":\"start\",\"id\":\"" ID2 "\",");
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EAGAIN);
    append(path, "\"name\":\"b\",\"ts\":2}\n");
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID2);
    CHECK_EQ_INT(rec.line, 2);
    CHECK_EQ_INT(sl_reader_bad_lines(r, NULL, 0), 0);

    /* Truncation: the file starts over. */
    CHECK(truncate(path, 0) == 0);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EAGAIN);
    append(path, l3);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID3);
    CHECK_EQ_INT(rec.line, 1);

    /* Rotation: the path names a new file. */
    char rotated[64];
    snprintf(rotated, sizeof rotated, "%s.1", path);
    CHECK(rename(path, rotated) == 0);
    append(path, l1);
    append(path, l2);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EAGAIN);  /* notices the new file */
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID1);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_OK);
    hex_of(&rec.id, hex);
    CHECK_EQ_STR(hex, ID2);
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EAGAIN);
    sl_reader_close(r);
    unlink(path);
    unlink(rotated);
}

static void test_open_errors(void)
{
    sl_error err;
    memset(&err, 0, sizeof err);
    CHECK(sl_reader_open_path("/nonexistent/spans.jsonl", NULL, &err) == NULL);
    CHECK_EQ_INT(err.code, SL_EIO);
    CHECK(strstr(err.message, "No such file") != NULL);
    CHECK(sl_reader_open_path("/tmp", NULL, &err) == NULL);
    sl_reader *r = sl_reader_open_mem("", 0, NULL, NULL);
    sl_record rec;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EOF);
    sl_reader_close(r);
}

/* The fast path (the encoder's exact layout) and the general parser (any
 * JSON layout: a space after '{' forces it) must give the same record. */
static void test_fast_path_agrees(void)
{
    const char *lines[] = {
        "{\"type\":\"start\",\"id\":\"" ID2 "\",\"trace\":\"" ID1 "\",\"parent\":\"" ID1
        "\",\"name\":\"db.query\",\"ts\":1764000000000000001,\"lane\":2,\"attrs\":{\"a\":[1,\"}\"]}}",
        "{\"type\":\"start\",\"id\":\"" ID2 "\",\"parent\":\"00f067aa0ba902b7\",\"name\":\"x\",\"ts\":5}",
        "{\"type\":\"event\",\"id\":\"" ID2 "\",\"name\":\"retry\",\"ts\":7,\"attrs\":{\"n\":2}}",
        "{\"type\":\"attr\",\"id\":\"" ID2 "\",\"ts\":8,\"attrs\":{\"rows\":10}}",
        "{\"type\":\"end\",\"id\":\"" ID2 "\",\"ts\":9,\"status\":\"error\",\"error\":\"boom\"}",
        "{\"type\":\"end\",\"id\":\"" ID2 "\",\"ts\":9,\"status\":\"ok\"}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char slow[512], s1[512], s2[512];
        snprintf(slow, sizeof slow, "{ %s", lines[i] + 1);
        sl_record a, b;
        int oa, ob;
        CHECK_EQ_INT(sl_jsonl_parse_line(lines[i], strlen(lines[i]), s1, &a, &oa), SL_OK);
        CHECK_EQ_INT(sl_jsonl_parse_line(slow, strlen(slow), s2, &b, &ob), SL_OK);
        CHECK_EQ_INT(a.type, b.type);
        CHECK(memcmp(&a.id, &b.id, sizeof a.id) == 0);
        CHECK(memcmp(&a.trace, &b.trace, sizeof a.trace) == 0);
        CHECK(memcmp(&a.parent, &b.parent, sizeof a.parent) == 0);
        CHECK(a.has_trace == b.has_trace && a.has_parent == b.has_parent && a.parent_short == b.parent_short);
        CHECK(a.ts == b.ts && a.lane == b.lane);
        CHECK(a.name_len == b.name_len && (!a.name_len || memcmp(a.name, b.name, a.name_len) == 0));
        CHECK(a.status_len == b.status_len && (!a.status_len || memcmp(a.status, b.status, a.status_len) == 0));
        CHECK(a.error_len == b.error_len && (!a.error_len || memcmp(a.error, b.error, a.error_len) == 0));
        CHECK(a.attrs_len == b.attrs_len && (!a.attrs_len || memcmp(a.attrs_json, b.attrs_json, a.attrs_len) == 0));
        CHECK_EQ_INT(oa, ob);
    }
    /* Near misses fall back and are still judged correctly. */
    const char *bad = "{\"type\":\"end\",\"id\":\"" ID2 "\",\"ts\":9}";  /* no status */
    sl_record r;
    char sc[256];
    int o;
    CHECK_EQ_INT(sl_jsonl_parse_line(bad, strlen(bad), sc, &r, &o), SL_EPARSE);
    const char *esc = "{\"type\":\"start\",\"id\":\"" ID2 "\",\"name\":\"a\\tb\",\"ts\":1}";
    CHECK_EQ_INT(sl_jsonl_parse_line(esc, strlen(esc), sc, &r, &o), SL_OK);
    CHECK(streq(r.name, r.name_len, "a\tb"));
}

static void test_roundtrip_encode(void)
{
    const char *line = "{\"type\":\"start\",\"id\":\"" ID2 "\",\"trace\":\"" ID1 "\",\"parent\":\"" ID1
                       "\",\"name\":\"n\\\"x\",\"ts\":1764000000000000001,\"lane\":2,\"attrs\":{\"a\":1}}";
    sl_record rec;
    char scratch[512];
    int origin;
    CHECK_EQ_INT(sl_jsonl_parse_line(line, strlen(line), scratch, &rec, &origin), SL_OK);
    sl_buf b = { 0 };
    CHECK_EQ_INT(sl_record_to_jsonl(&rec, &b), SL_OK);
    CHECK(b.len == strlen(line) + 1 && memcmp(b.ptr, line, strlen(line)) == 0);
    sl_buf_free(&b);
}

int main(void)
{
    test_jsonl_fields();
    test_bad_lines();
    test_max_line();
    test_jslogger();
    test_msgpack();
    test_follow();
    test_open_errors();
    test_fast_path_agrees();
    test_roundtrip_encode();
    return CHECK_DONE();
}
