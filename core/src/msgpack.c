/*
 * msgpack.c: the MessagePack encoder, same records as JSONL.
 *
 * Key idea: the same maps with the same keys in the same order as the JSONL
 * records; ids are 16-byte bin (a remote parent: its 8 known bytes), ts is a
 * uint64, strings are UTF-8-sanitized and NaN/Inf become the same strings as
 * in JSONL, so both formats carry the same values. A stream is just
 * concatenated maps. The bytes are written here through a bare cursor into a
 * buffer sized once per record (msgpack-c's packer, one callback per item,
 * was 4x slower); the tests decode the output with msgpack-c's unpacker.
 */
#include <math.h>

#include "ring_rec.h"

static char *put_be16(char *o, uint16_t v)
{
    o[0] = (char)(v >> 8);
    o[1] = (char)v;
    return o + 2;
}

static char *put_be32(char *o, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(o, &v, 4);
    return o + 4;
}

static char *put_be64(char *o, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(o, &v, 8);
    return o + 8;
}

/* A map or array header: fixmap/fixarray up to 15 items, else the 16-bit
 * form (code16) or the 32-bit one, which follows it (code16 + 1). */
static char *container_hdr(char *o, uint32_t n, unsigned fix, unsigned code16)
{
    if (n < 16) {
        *o++ = (char)(fix | n);
        return o;
    }
    if (n < 65536) {
        *o++ = (char)code16;
        return put_be16(o, (uint16_t)n);
    }
    *o++ = (char)(code16 + 1);
    return put_be32(o, n);
}

#define map_hdr(o, n) container_hdr((o), (n), 0x80, 0xde)
#define array_hdr(o, n) container_hdr((o), (n), 0x90, 0xdc)

static char *str_hdr(char *o, size_t n)
{
    if (n < 32) {
        *o++ = (char)(0xa0 | n);
    } else if (n < 256) {
        *o++ = (char)0xd9;
        *o++ = (char)n;
    } else if (n < 65536) {
        *o++ = (char)0xda;
        o = put_be16(o, (uint16_t)n);
    } else {
        *o++ = (char)0xdb;
        o = put_be32(o, (uint32_t)n);
    }
    return o;
}

static size_t str_hdr_len(size_t n)
{
    return n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
}

/* a literal key or value (ASCII, short) */
#define LIT(o, s) (*(o) = (char)(0xa0 | (sizeof(s) - 1)), memcpy((o) + 1, (s), sizeof(s) - 1), (o) + sizeof(s))

/* s as a str, invalid UTF-8 replaced, "…" appended when trunc */
static char *text(char *o, const char *s, size_t n, int trunc)
{
    size_t i = 0;
    for (; n - i >= 8; i += 8) {   /* ASCII 8 bytes a step */
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (x & 0x8080808080808080ull) break;
    }
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) {
        o = str_hdr(o, n + (trunc ? 3 : 0));
        memcpy(o, s, n);
        o += n;
    } else {
        /* sanitize after room for the longest header, then close the gap */
        sl_buf tmp = {o + 5, 0, 3 * n + 3, 1};
        sl_utf8_sanitize_into(&tmp, s, n);
        size_t len = tmp.len + (trunc ? 3 : 0);
        size_t h = str_hdr_len(len);
        str_hdr(o, len);
        memmove(o + h, o + 5, tmp.len);
        o += h + tmp.len;
    }
    if (trunc) {
        memcpy(o, "\xE2\x80\xA6", 3);
        o += 3;
    }
    return o;
}

static char *uint_val(char *o, uint64_t v)
{
    if (v < 128) {
        *o++ = (char)v;
    } else if (v < 256) {
        *o++ = (char)0xcc;
        *o++ = (char)v;
    } else if (v < 65536) {
        *o++ = (char)0xcd;
        o = put_be16(o, (uint16_t)v);
    } else if (v <= UINT32_MAX) {
        *o++ = (char)0xce;
        o = put_be32(o, (uint32_t)v);
    } else {
        *o++ = (char)0xcf;
        o = put_be64(o, v);
    }
    return o;
}

static char *int_val(char *o, int64_t v)
{
    if (v >= 0) return uint_val(o, (uint64_t)v);
    if (v >= -32) {
        *o++ = (char)(int8_t)v;
    } else if (v >= INT8_MIN) {
        *o++ = (char)0xd0;
        *o++ = (char)(int8_t)v;
    } else if (v >= INT16_MIN) {
        *o++ = (char)0xd1;
        o = put_be16(o, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        *o++ = (char)0xd2;
        o = put_be32(o, (uint32_t)(int32_t)v);
    } else {
        *o++ = (char)0xd3;
        o = put_be64(o, (uint64_t)v);
    }
    return o;
}

static char *bin(char *o, const uint8_t *b, size_t n)
{
    *o++ = (char)0xc4;
    *o++ = (char)n;
    memcpy(o, b, n);
    return o + n;
}

static char *scalar(char *o, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return text(o, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return int_val(o, a->i);
    case SL_ATTR_DOUBLE: {
        if (isnan(a->d)) return LIT(o, "NaN");
        if (isinf(a->d)) return a->d > 0 ? LIT(o, "Infinity") : LIT(o, "-Infinity");
        uint64_t bits;
        memcpy(&bits, &a->d, 8);
        *o++ = (char)0xcb;
        return put_be64(o, bits);
    }
    case SL_ATTR_BOOL: *o++ = (char)(a->len ? 0xc3 : 0xc2); return o;
    default: *o++ = (char)0xc0; return o;
    }
}

static size_t str_bound(size_t n)
{
    return 3 * n + 12;
}

/* Per attribute or item at most: the key's and a string's headers (5
 * each) and cut mark, or a 9-byte number. */
static size_t attrs_bound(const char *p, uint32_t n)
{
    sl_attrs_size z;
    sl_attrs_measure(p, n, &z);
    return 16 + 3 * (z.key_bytes + z.str_bytes) + 40 * z.values;
}

static char *attrs(char *o, const char *p, uint32_t n)
{
    o = LIT(o, "attrs");
    o = map_hdr(o, n);
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        o = text(o, a.key, a.key_len, 0);
        if (a.type == SL_ATTR_ARRAY) {
            o = array_hdr(o, (uint32_t)a.len);
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                o = scalar(o, &it);
            }
        } else {
            o = scalar(o, &a);
        }
    }
    return o;
}

/* The bytes of a whole ring record of `size` bytes: the fixed keys, ids and
 * numbers take less than 256; the text and the keys and strings of
 * attributes are at most all the bytes, 3 out for each (U+FFFD); every
 * attribute and item has an 8-byte header and adds at most 40 (headers, a
 * cut mark, a 9-byte number). */
static inline size_t ring_bound(uint32_t size)
{
    return 256 + (3 + 40 / 8) * (size_t)size;
}

static inline __attribute__((always_inline)) int encode_rrec(sl_buf *b, const sl_rrec *v)
{
    if (v->type < SL_REC_START || v->type > SL_REC_END || v->status > 2) return SL_EINVAL;
    int start = v->type == SL_REC_START, end = v->type == SL_REC_END;
    int has_parent = start && (v->flags & SL_RF_HAS_PARENT);
    int has_error = end && v->status == SL_STATUS_ERROR;
    int has_attrs = !end && v->nattrs > 0;
    int named = start || v->type == SL_REC_EVENT;
    int trunc = (v->flags & SL_RF_TEXT_TRUNC) != 0;
    uint32_t n = 3 + (uint32_t)start * 2 + (uint32_t)has_parent + (uint32_t)named + (uint32_t)end +
                 (uint32_t)has_error + (uint32_t)has_attrs;
    size_t bound = v->in_ring ? ring_bound(v->size)
                              : 200 + str_bound(v->text_len) + (has_attrs ? attrs_bound(v->attrs, v->nattrs) : 0);
    if (sl_buf_reserve(b, bound) != SL_OK) return SL_ENOMEM;
    char *o = b->ptr + b->len;
    o = map_hdr(o, n);
    o = LIT(o, "type");
    switch (v->type) {
    case SL_REC_START: o = LIT(o, "start"); break;
    case SL_REC_EVENT: o = LIT(o, "event"); break;
    case SL_REC_ATTR: o = LIT(o, "attr"); break;
    default: o = LIT(o, "end"); break;
    }
    o = LIT(o, "id");
    o = bin(o, v->id->bytes, 16);
    if (start) {
        o = LIT(o, "trace");
        o = bin(o, v->trace->bytes, 16);
        if (has_parent) {
            int from = (v->flags & SL_RF_PARENT_REMOTE) ? 8 : 0;
            o = LIT(o, "parent");
            o = bin(o, v->parent->bytes + from, (size_t)(16 - from));
        }
    }
    if (named) {
        o = LIT(o, "name");
        o = text(o, v->text, v->text_len, trunc);
    }
    o = LIT(o, "ts");
    *o++ = (char)0xcf;   /* always uint64, as design.md says */
    o = put_be64(o, v->ts);
    if (start) {
        o = LIT(o, "lane");
        o = uint_val(o, v->lane);
    }
    if (end) {
        o = LIT(o, "status");
        if (v->status == SL_STATUS_OK) o = LIT(o, "ok");
        else if (v->status == SL_STATUS_ERROR) o = LIT(o, "error");
        else o = LIT(o, "abandoned");
        if (has_error) {
            o = LIT(o, "error");
            o = text(o, v->text, v->text_len, trunc);
        }
    }
    if (has_attrs) o = attrs(o, v->attrs, v->nattrs);
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

int sl_msgpack_encode(sl_buf *b, const sl_rview *v)
{
    sl_rrec r = sl_rrec_of_view(v);
    return encode_rrec(b, &r);
}

int sl_msgpack_encode_ring(sl_buf *b, const char *rec)
{
    if (sl_rrec_is_short(rec)) {
        sl_rrec r = sl_rrec_short_at(rec);
        return encode_rrec(b, &r);
    }
    sl_rrec r = sl_rrec_full_at(rec);
    return encode_rrec(b, &r);
}

int sl_msgpack_meta(sl_buf *b, const sl_meta *m)
{
    size_t sn = m->service ? strlen(m->service) : 0, hn = m->host ? strlen(m->host) : 0;
    if (sl_buf_reserve(b, 128 + str_bound(sn) + str_bound(hn)) != SL_OK) return SL_ENOMEM;
    char *o = b->ptr + b->len;
    o = map_hdr(o, 4 + (m->service != NULL) + (m->host != NULL) + (m->dropped != 0));
    o = LIT(o, "type");
    o = LIT(o, "meta");
    o = LIT(o, "format");
    o = LIT(o, SL_FORMAT_NAME);
    o = LIT(o, "pid");
    o = int_val(o, m->pid);
    if (m->service) {
        o = LIT(o, "service");
        o = text(o, m->service, sn, 0);
    }
    if (m->host) {
        o = LIT(o, "host");
        o = text(o, m->host, hn, 0);
    }
    o = LIT(o, "ts");
    *o++ = (char)0xcf;
    o = put_be64(o, m->ts);
    if (m->dropped) {
        o = LIT(o, "dropped");
        o = uint_val(o, m->dropped);
    }
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}
