/*
 * reader_jslogger.c: js-logger's dialect of JSON lines (the tracer of
 * MatrixAI's js-logger): start/stop records with sortable base32hex ids,
 * read as spanline records.
 *
 * Key idea: js-logger writes no timestamps; its ids (IdSortable: 'v' and 26
 * base32hex digits) carry the time, in seconds and 1/4096 s, in their first
 * 48 bits. A "stop" record is stamped by its own id and names its span by
 * startId, so it becomes the end record of that span, with status "ok"
 * unless it says otherwise.
 */
#include "reader_internal.h"

#define JSLOGGER_ID_LEN 27

/* base32hex digit values, either case, with DIGIT set; 0 for a non-digit */
#define DIGIT 0x20
#define D(c, v) [c] = DIGIT | (v)
static const uint8_t B32HEX[256] = {
    D('0', 0), D('1', 1), D('2', 2), D('3', 3), D('4', 4), D('5', 5), D('6', 6), D('7', 7),
    D('8', 8), D('9', 9),
    D('a', 10), D('b', 11), D('c', 12), D('d', 13), D('e', 14), D('f', 15), D('g', 16), D('h', 17),
    D('i', 18), D('j', 19), D('k', 20), D('l', 21), D('m', 22), D('n', 23), D('o', 24), D('p', 25),
    D('q', 26), D('r', 27), D('s', 28), D('t', 29), D('u', 30), D('v', 31),
    D('A', 10), D('B', 11), D('C', 12), D('D', 13), D('E', 14), D('F', 15), D('G', 16), D('H', 17),
    D('I', 18), D('J', 19), D('K', 20), D('L', 21), D('M', 22), D('N', 23), D('O', 24), D('P', 25),
    D('Q', 26), D('R', 27), D('S', 28), D('T', 29), D('U', 30), D('V', 31),
};
#undef D

/* 'v' + 26 base32hex digits = 130 bits: the id's 128, then 2 of padding.
 * Eight digits are 40 bits, five whole bytes; the last two digits give the
 * last byte. A non-digit clears DIGIT in `all`, checked once. */
static int parse_id(const char *s, size_t len, sl_id *out)
{
    if (!s || len != JSLOGGER_ID_LEN || s[0] != 'v') return SL_EPARSE;
    const unsigned char *d = (const unsigned char *)s + 1;
    unsigned all = DIGIT;
    uint8_t *b = out->bytes;
    for (int g = 0; g < 3; g++, d += 8, b += 5) {
        uint64_t acc = 0;
        for (int j = 0; j < 8; j++) {
            unsigned v = B32HEX[d[j]];
            all &= v;
            acc = acc << 5 | (v & 31);
        }
        for (int k = 0; k < 5; k++) b[k] = (uint8_t)(acc >> (32 - 8 * k));
    }
    unsigned v0 = B32HEX[d[0]], v1 = B32HEX[d[1]];
    all &= v0 & v1;
    b[0] = (uint8_t)((v0 & 31) << 3 | (v1 & 31) >> 2);
    return all & DIGIT ? SL_OK : SL_EPARSE;
}

/* Unix ns from the id's time field: 36 bits of seconds, 12 of 1/4096 s. */
static uint64_t id_time(const sl_id *id)
{
    const uint8_t *b = id->bytes;
    uint64_t secs = ((uint64_t)b[0] << 28) | ((uint64_t)b[1] << 20) | ((uint64_t)b[2] << 12) |
                    ((uint64_t)b[3] << 4) | (uint64_t)(b[4] >> 4);
    uint64_t frac = ((uint64_t)(b[4] & 15) << 8) | b[5];
    return secs * 1000000000ull + (frac * 1000000000ull) / 4096u;
}

static int is_stop(const sl_jsonl_keys *k)
{
    return k->type_len == 4 && memcmp(k->type, "stop", 4) == 0;
}

int sl_jslogger_line(const sl_jsonl_keys *k)
{
    return (k->type && is_stop(k)) || (k->id && k->id_len == JSLOGGER_ID_LEN && k->id[0] == 'v');
}

int sl_jslogger_record(const sl_jsonl_keys *k, sl_record *out)
{
    int stop = is_stop(k);
    int type = stop ? SL_REC_END : sl_record_type_named(k->type, k->type_len);
    if (type < 0) return SL_EPARSE;
    out->type = (sl_record_type)type;
    if (type == SL_REC_META) return SL_OK;
    sl_id own;
    if (parse_id(k->id, k->id_len, &own) != SL_OK) return SL_EPARSE;
    if (!k->have_ts) out->ts = id_time(&own);
    if (stop) {
        if (parse_id(k->start_id, k->start_id_len, &out->id) != SL_OK) return SL_EPARSE;
    } else {
        out->id = own;
        if (k->trace) {
            if (parse_id(k->trace, k->trace_len, &out->trace) != SL_OK) return SL_EPARSE;
            out->has_trace = 1;
        }
        if (k->parent) {
            if (parse_id(k->parent, k->parent_len, &out->parent) != SL_OK) return SL_EPARSE;
            out->has_parent = 1;
        }
    }
    if (type == SL_REC_END && !out->status) {
        out->status = "ok";
        out->status_len = 2;
    }
    return sl_record_check(out);
}
