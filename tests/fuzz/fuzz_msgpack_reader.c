/*
 * fuzz_msgpack_reader.c: libFuzzer harness for the stream reader on
 * MessagePack input.
 *
 * The reader tells msgpack from JSONL by the first byte, so the harness
 * forces the first byte into the fixmap range (0x80-0x8f) unless it already
 * starts a map; the rest is libFuzzer's. Every returned field is read in full.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reencode_check.h"
#include "spanline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink_byte;

static void touch(const char *p, size_t n)
{
    unsigned acc = 0;
    if (!p) return;
    for (size_t i = 0; i < n; i++) acc += (unsigned char)p[i];
    sink_byte += acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    char *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    unsigned char b0 = (unsigned char)copy[0];
    if (!((b0 >= 0x80 && b0 <= 0x8f) || b0 == 0xde || b0 == 0xdf))
        copy[0] = (char)(0x80 | (b0 & 0x0f));

    sl_error err;
    sl_reader *r = sl_reader_open_mem(copy, size, NULL, &err);
    if (!r) abort();
    sl_record rec;
    int rc;
    size_t guard = 0;
    while ((rc = sl_reader_next(r, &rec)) == SL_OK) {
        touch(rec.name, rec.name_len);
        touch(rec.status, rec.status_len);
        touch(rec.error, rec.error_len);
        touch(rec.attrs_json, rec.attrs_len);
        touch(rec.raw, rec.raw_len);
        touch(rec.service, rec.service_len);
        touch(rec.host, rec.host_len);
        touch(rec.format, rec.format_len);
        if (rec.type > SL_REC_END) abort();
        check_reencode(&rec);
        if (++guard > size + 1) abort();
    }
    if (rc != SL_EOF) abort();
    (void)sl_reader_bad_lines(r, NULL, 0);
    if (sl_reader_offset(r) > size) abort();
    sl_reader_close(r);
    free(copy);
    return 0;
}
