/*
 * test_traceparent.c: W3C traceparent parsing (valid, uppercase, bad
 * lengths, zero ids, future versions) and formatting.
 */
#include "check.h"
#include "spanline.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int parse(const char *s)
{
    sl_context c;
    return sl_traceparent_parse(s, strlen(s), &c);
}

int main(void)
{
    sl_context c;
    CHECK_EQ_INT(sl_traceparent_parse(TP, strlen(TP), &c), SL_OK);
    char hex[33];
    sl_id_to_hex(&c.trace, hex);
    CHECK_EQ_STR(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    sl_id_to_hex(&c.span, hex);
    CHECK_EQ_STR(hex, "000000000000000000f067aa0ba902b7");
    CHECK_EQ_INT(c.flags, 1);
    CHECK_EQ_INT(c.remote, 1);
    char out[SL_TRACEPARENT_LEN + 1];
    sl_traceparent_format(&c, out);
    CHECK_EQ_STR(out, TP);

    /* format from a local span context: span-id is the id's tail */
    sl_context local;
    memset(&local, 0, sizeof local);
    CHECK_EQ_INT(sl_id_from_hex("0123456789abcdef0123456789abcdef", 32, &local.trace), SL_OK);
    CHECK_EQ_INT(sl_id_from_hex("fedcba9876543210aabbccddeeff0011", 32, &local.span), SL_OK);
    local.flags = 0;
    sl_traceparent_format(&local, out);
    CHECK_EQ_STR(out, "00-0123456789abcdef0123456789abcdef-aabbccddeeff0011-00");

    CHECK_EQ_INT(parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"), SL_EPARSE);
    CHECK_EQ_INT(parse(""), SL_EPARSE);
    CHECK_EQ_INT(parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), SL_EPARSE);
    CHECK_EQ_INT(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz"), SL_EPARSE);
    /* future versions: same prefix, more fields after a '-' */
    CHECK_EQ_INT(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), SL_OK);
    CHECK_EQ_INT(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-ever"), SL_OK);
    CHECK_EQ_INT(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09what"), SL_EPARSE);
    CHECK_EQ_INT(sl_traceparent_parse(NULL, 55, &c), SL_EPARSE);
    return CHECK_DONE();
}
