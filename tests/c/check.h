/*
 * check.h: the smallest assertion kit for the C unit tests, and the one
 * file helper several share (check_count_lines).
 *
 * CHECK records a failure and goes on, so one run shows every broken
 * expectation; CHECK_DONE() returns the exit status for main.
 */
#ifndef SL_CHECK_H
#define SL_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { \
    check_count++; \
    if (!(cond)) { \
        check_failures++; \
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    } \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
    check_count++; \
    if (check_a_ != check_b_) { \
        check_failures++; \
        fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
                __FILE__, __LINE__, #a, #b, check_a_, check_b_); \
    } \
} while (0)

#define CHECK_EQ_STR(a, b) do { \
    const char *check_a_ = (a), *check_b_ = (b); \
    check_count++; \
    if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) { \
        check_failures++; \
        fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
                __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)", \
                check_b_ ? check_b_ : "(null)"); \
    } \
} while (0)

/* The lines of the file at path that contain needle (0 for no file). */
static inline int check_count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    if (f) fclose(f);
    return n;
}

#define CHECK_DONE() ( \
    fprintf(stderr, "%s: %d checks, %d failed\n", __FILE__, check_count, check_failures), \
    check_failures ? 1 : 0)

#endif
