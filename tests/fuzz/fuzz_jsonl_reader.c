/*
 * fuzz_jsonl_reader.c: libFuzzer harness for the stream reader on JSONL input.
 *
 * Any bytes go through sl_reader_open_mem + sl_reader_next until EOF; every
 * field the reader hands back is read in full so ASan catches a pointer or a
 * length that strays outside the input. The reader must never fail other
 * than by skipping (and counting) bad lines.
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

static void read_all(const char *data, size_t size, size_t max_line)
{
    sl_error err;
    sl_reader_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.max_line = max_line;
    sl_reader *r = sl_reader_open_mem(data, size, &opts, &err);
    if (!r) abort(); /* opening memory cannot fail for lack of a file */
    sl_record rec;
    uint64_t last_line = 0;
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
        if (rec.line <= last_line) abort(); /* records come in input order */
        last_line = rec.line;
        if (++guard > size + 1) abort(); /* more records than bytes: a loop */
    }
    if (rc != SL_EOF) abort();
    uint64_t lines[8];
    uint64_t bad = sl_reader_bad_lines(r, lines, 8);
    for (uint64_t i = 0; i < bad && i < 8; i++)
        if (lines[i] == 0) abort();
    if (sl_reader_offset(r) > size) abort();
    sl_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap block so a read past the end is caught. */
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    /* The reader takes a first byte >= 0x80 for msgpack (fuzz_msgpack_reader
     * covers that): keep this harness on the JSONL path. */
    if (size && ((unsigned char)copy[0] & 0x80)) copy[0] = '{';
    read_all(copy, size, 0);
    read_all(copy, size, 64); /* a small line limit exercises the skip path */
    free(copy);
    return 0;
}
