/*
 * test_reader_limits.c: endless input ends. A run of max_garbage bytes
 * without a record (one endless line, as /dev/zero gives; blank lines; bad
 * lines; msgpack garbage) stops the reader with SL_EPARSE and a message
 * saying why, instead of reading forever; a shorter run is skipped and the
 * records after it are read.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

#define REC "{\"type\":\"start\",\"id\":\"0123456789abcdef0123456789abcdef\",\"name\":\"a\",\"ts\":1}\n"

static int read_all(const char *data, size_t len, size_t max_garbage, int *records, const char **why)
{
    sl_reader_opts o = {.follow = 0, .max_line = 100, .max_garbage = max_garbage};
    sl_reader *r = sl_reader_open_mem(data, len, &o, NULL);
    sl_record rec;
    int rc;
    *records = 0;
    while ((rc = sl_reader_next(r, &rec)) == SL_OK) ++*records;
    static char msg[256];
    msg[0] = '\0';
    if (sl_reader_error(r)) snprintf(msg, sizeof msg, "%s", sl_reader_error(r));
    *why = msg;
    sl_reader_close(r);
    return rc;
}

static void test_runs(void)
{
    size_t n = 5000;
    char *buf = malloc(n + 2 * sizeof REC);
    int records;
    const char *why;

    /* one line with no end, after a record */
    memcpy(buf, REC, sizeof REC - 1);
    memset(buf + sizeof REC - 1, 'x', n);
    CHECK_EQ_INT(read_all(buf, sizeof REC - 1 + n, 1000, &records, &why), SL_EPARSE);
    CHECK_EQ_INT(records, 1);
    CHECK(strstr(why, "line 2 is longer than") != NULL);
    CHECK(strstr(why, "not a span stream") != NULL);

    /* blank lines only */
    memset(buf, '\n', n);
    CHECK_EQ_INT(read_all(buf, n, 1000, &records, &why), SL_EPARSE);
    CHECK(strstr(why, "no record in") != NULL);

    /* bad lines, then a record: under the limit they are skipped */
    for (size_t i = 0; i < n; i++) buf[i] = i % 10 == 9 ? '\n' : 'z';
    memcpy(buf + n, REC, sizeof REC - 1);
    CHECK_EQ_INT(read_all(buf, n + sizeof REC - 1, 1000, &records, &why), SL_EPARSE);
    CHECK_EQ_INT(records, 0);
    CHECK(strstr(why, "from line 1") != NULL);
    CHECK_EQ_INT(read_all(buf, n + sizeof REC - 1, 10000, &records, &why), SL_EOF);
    CHECK_EQ_INT(records, 1);

    /* a record resets the count: garbage, record, garbage, each under it */
    memset(buf, '\n', 800);
    memcpy(buf + 800, REC, sizeof REC - 1);
    memset(buf + 800 + sizeof REC - 1, '\n', 800);
    CHECK_EQ_INT(read_all(buf, 1600 + sizeof REC - 1, 1000, &records, &why), SL_EOF);
    CHECK_EQ_INT(records, 1);

    /* msgpack garbage after a map header byte */
    buf[0] = (char)0x81;
    memset(buf + 1, (char)0xc1, n - 1);
    CHECK_EQ_INT(read_all(buf, n, 1000, &records, &why), SL_EPARSE);

    /* msgpack garbage that ends in a container cut by the end of input: the
     * cut bytes are garbage too (random bytes once read as "no span records"
     * when such a container came before the limit) */
    buf[0] = (char)0x81;
    memset(buf + 1, (char)0xc1, 960);
    memcpy(buf + 961, "\xde\x00\x28", 3);    /* map16 of 40 pairs: 80 items */
    memset(buf + 964, (char)0xc0, 50);         /* only 50 arrive */
    CHECK_EQ_INT(read_all(buf, 1014, 1000, &records, &why), SL_EPARSE);
    CHECK(strstr(why, "not a span stream") != NULL);
    CHECK_EQ_INT(read_all(buf, 1014, 2000, &records, &why), SL_EOF);   /* under the limit */
    free(buf);
}

/* A real endless stream: /dev/zero, with the default limit (64 MiB). */
static void test_dev_zero(void)
{
    sl_reader *r = sl_reader_open_path("/dev/zero", NULL, NULL);
    if (!r) return;
    sl_record rec;
    CHECK_EQ_INT(sl_reader_next(r, &rec), SL_EPARSE);
    CHECK(strstr(sl_reader_error(r), "/dev/zero: line 1 is longer than 64 MiB") != NULL);
    CHECK(sl_reader_offset(r) <= (64u << 20) + (4u << 20));
    sl_reader_close(r);
}

int main(void)
{
    test_runs();
    test_dev_zero();
    return CHECK_DONE();
}
