/*
 * test_id.c: span ids: unique, sorted in creation order even when the clock
 * stands still or steps back, UUIDv7 version/variant bits, deterministic
 * with a seed, fresh random tails, and a different stream in a forked child.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "spanline.h"

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static uint64_t tail_of(const sl_id *id)
{
    uint64_t v = 0;
    for (int i = 8; i < 16; i++) v = v << 8 | id->bytes[i];
    return v;
}

static void test_unique_sorted(void)
{
    enum { N = 1000000 };
    sl_id *ids = malloc(N * sizeof *ids);
    sl_idgen g;
    sl_idgen_init(&g, 0);
    int in_order = 1, bits_ok = 1;
    for (int i = 0; i < N; i++) {
        sl_idgen_next(&g, sl_clock_now(), &ids[i]);
        if (i && memcmp(&ids[i - 1], &ids[i], 16) >= 0) in_order = 0;
        if ((ids[i].bytes[6] >> 4) != 7 || (ids[i].bytes[8] >> 6) != 2) bits_ok = 0;
    }
    CHECK(in_order);
    CHECK(bits_ok);
    qsort(ids, N, sizeof *ids, cmp_id);
    int dups = 0;
    for (int i = 1; i < N; i++) dups += memcmp(&ids[i - 1], &ids[i], 16) == 0;
    CHECK_EQ_INT(dups, 0);
    free(ids);
}

static void test_frozen_and_backwards(void)
{
    sl_idgen g;
    sl_idgen_init(&g, 0);
    sl_id prev, cur;
    uint64_t t = 1764000000123456789ull;
    sl_idgen_next(&g, t, &prev);
    /* the time field holds the Unix ms */
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++) ms = ms << 8 | prev.bytes[i];
    CHECK_EQ_INT(ms, 1764000000123ull);
    int frozen_ok = 1, tails_differ = 1;
    for (int i = 0; i < 100000; i++) {
        sl_idgen_next(&g, t, &cur);
        if (memcmp(&prev, &cur, 16) >= 0) frozen_ok = 0;
        if (tail_of(&prev) == tail_of(&cur)) tails_differ = 0;
        prev = cur;
    }
    CHECK(frozen_ok);
    CHECK(tails_differ);
    int back_ok = 1;
    for (int i = 0; i < 10000; i++) {
        t -= 1000000;   /* one ms back each time */
        sl_idgen_next(&g, t, &cur);
        if (memcmp(&prev, &cur, 16) >= 0) back_ok = 0;
        if ((cur.bytes[6] >> 4) != 7 || (cur.bytes[8] >> 6) != 2) back_ok = 0;
        prev = cur;
    }
    CHECK(back_ok);
    /* moving forward again: the time field follows the clock */
    sl_idgen_next(&g, t + 3600000000000ull, &cur);
    ms = 0;
    for (int i = 0; i < 6; i++) ms = ms << 8 | cur.bytes[i];
    CHECK_EQ_INT(ms, (t + 3600000000000ull) / 1000000u);
}

static void test_deterministic(void)
{
    sl_idgen a, b, c;
    sl_idgen_init(&a, 42);
    sl_idgen_init(&b, 42);
    sl_idgen_init(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        sl_id x, y, z;
        uint64_t t = 1764000000000000000ull + (uint64_t)i * 777;
        sl_idgen_next(&a, t, &x);
        sl_idgen_next(&b, t, &y);
        sl_idgen_next(&c, t, &z);
        if (memcmp(&x, &y, 16) != 0) same = 0;
        if (memcmp(&x, &z, 16) != 0) differ = 1;
    }
    CHECK(same);
    CHECK(differ);
}

static void test_hex(void)
{
    sl_idgen g;
    sl_idgen_init(&g, 7);
    sl_id id, back;
    sl_idgen_next(&g, 1764000000000000000ull, &id);
    char hex[33];
    sl_id_to_hex(&id, hex);
    CHECK_EQ_INT(strlen(hex), 32);
    for (int i = 0; i < 32; i++) CHECK((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
    CHECK_EQ_INT(hex[12], '7');   /* the version digit */
    CHECK_EQ_INT(sl_id_from_hex(hex, 32, &back), SL_OK);
    CHECK(memcmp(&id, &back, 16) == 0);
    CHECK_EQ_INT(sl_id_from_hex(hex + 16, 16, &back), SL_OK);
    CHECK(memcmp(back.bytes + 8, id.bytes + 8, 8) == 0);
    sl_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(back.bytes, zero.bytes, 8) == 0);
    CHECK(sl_id_is_zero(&zero));
    CHECK(!sl_id_is_zero(&id));
    CHECK_EQ_INT(sl_id_from_hex(hex, 31, &back), SL_EPARSE);
    CHECK_EQ_INT(sl_id_from_hex("0123456789abcdeg", 16, &back), SL_EPARSE);
    CHECK_EQ_INT(sl_id_from_hex(NULL, 32, &back), SL_EPARSE);
}

/* A forked child must not repeat its parent's random stream. */
static void test_fork(void)
{
    sl_idgen g;
    sl_idgen_init(&g, 0);
    sl_id warm;
    sl_idgen_next(&g, sl_clock_now(), &warm);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        sl_id ids[64];
        for (int i = 0; i < 64; i++) sl_idgen_next(&g, 1764000000000000000ull, &ids[i]);
        ssize_t w = write(fds[1], ids, sizeof ids);
        _exit(w == (ssize_t)sizeof ids ? 0 : 1);
    }
    sl_id mine[64], theirs[64];
    for (int i = 0; i < 64; i++) sl_idgen_next(&g, 1764000000000000000ull, &mine[i]);
    size_t got = 0;
    while (got < sizeof theirs) {
        ssize_t n = read(fds[0], (char *)theirs + got, sizeof theirs - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(got, sizeof theirs);
    int shared_tails = 0;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) shared_tails += tail_of(&mine[i]) == tail_of(&theirs[j]);
    CHECK_EQ_INT(shared_tails, 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    test_unique_sorted();
    test_frozen_and_backwards();
    test_deterministic();
    test_hex();
    test_fork();
    return CHECK_DONE();
}
