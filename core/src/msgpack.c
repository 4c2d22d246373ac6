/*
 * msgpack.c: the MessagePack encoder (msgpack-c), same records as JSONL.
 *
 * Key idea: the same maps with the same keys in the same order as the JSONL
 * records; ids are 16-byte bin (a remote parent: its 8 known bytes), ts is a
 * uint64, strings are UTF-8-sanitized first and NaN/Inf become the same
 * strings as in JSONL, so both formats carry the same values. A stream is
 * just concatenated maps.
 */
#include <math.h>
#include <msgpack.h>

#include "internal.h"

static int buf_write(void *data, const char *p, size_t n)
{
    return sl_buf_append(data, p, n);
}

static int pack_lit(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_text(msgpack_packer *pk, const char *s, size_t n, int trunc)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n && !trunc) return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
    sl_buf tmp = {NULL, 0, 0};
    int bad = sl_utf8_sanitize(&tmp, s, n) ||
              (trunc && sl_buf_append(&tmp, "\xE2\x80\xA6", 3));
    if (!bad) bad = msgpack_pack_str(pk, tmp.len) || msgpack_pack_str_body(pk, tmp.p ? tmp.p : "", tmp.len);
    sl_buf_free(&tmp);
    return bad;
}

static int pack_id(msgpack_packer *pk, const sl_id *id, int from)
{
    return msgpack_pack_bin(pk, (size_t)(16 - from)) ||
           msgpack_pack_bin_body(pk, id->bytes + from, (size_t)(16 - from));
}

static int pack_scalar(msgpack_packer *pk, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return pack_text(pk, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return msgpack_pack_int64(pk, a->i);
    case SL_ATTR_DOUBLE:
        if (isnan(a->d)) return pack_lit(pk, "NaN");
        if (isinf(a->d)) return pack_lit(pk, a->d > 0 ? "Infinity" : "-Infinity");
        return msgpack_pack_double(pk, a->d);
    case SL_ATTR_BOOL: return a->len ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    default: return msgpack_pack_nil(pk);
    }
}

static int pack_attrs(msgpack_packer *pk, const char *p, uint32_t n)
{
    if (pack_lit(pk, "attrs") || msgpack_pack_map(pk, n)) return -1;
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        if (pack_text(pk, a.key, a.key_len, 0)) return -1;
        if (a.type == SL_ATTR_ARRAY) {
            if (msgpack_pack_array(pk, a.len)) return -1;
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                if (pack_scalar(pk, &it)) return -1;
            }
        } else if (pack_scalar(pk, &a)) {
            return -1;
        }
    }
    return 0;
}

static int encode(msgpack_packer *pk, const sl_rview *v)
{
    static const char *types[] = {"meta", "start", "event", "attr", "end"};
    static const char *statuses[] = {"ok", "error", "abandoned"};
    int start = v->type == SL_REC_START, end = v->type == SL_REC_END;
    int has_parent = start && (v->flags & SL_RF_HAS_PARENT);
    int has_error = end && v->status == SL_STATUS_ERROR;
    int has_attrs = !end && v->nattrs > 0;
    int named = start || v->type == SL_REC_EVENT;
    size_t n = 3 + (size_t)start * 2 + (size_t)has_parent + (size_t)named + (size_t)end +
               (size_t)has_error + (size_t)has_attrs;
    if (v->type < SL_REC_START || v->type > SL_REC_END || v->status > 2) return -1;
    if (msgpack_pack_map(pk, n) || pack_lit(pk, "type") || pack_lit(pk, types[v->type]) ||
        pack_lit(pk, "id") || pack_id(pk, &v->id, 0))
        return -1;
    if (start) {
        if (pack_lit(pk, "trace") || pack_id(pk, &v->trace, 0)) return -1;
        if (has_parent &&
            (pack_lit(pk, "parent") || pack_id(pk, &v->parent, (v->flags & SL_RF_PARENT_REMOTE) ? 8 : 0)))
            return -1;
    }
    if (named && (pack_lit(pk, "name") ||
                  pack_text(pk, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0)))
        return -1;
    if (pack_lit(pk, "ts") || msgpack_pack_uint64(pk, v->ts)) return -1;
    if (start && (pack_lit(pk, "lane") || msgpack_pack_uint32(pk, v->lane))) return -1;
    if (end) {
        if (pack_lit(pk, "status") || pack_lit(pk, statuses[v->status])) return -1;
        if (has_error && (pack_lit(pk, "error") ||
                          pack_text(pk, v->text, v->text_len, (v->flags & SL_RF_TEXT_TRUNC) != 0)))
            return -1;
    }
    if (has_attrs && pack_attrs(pk, v->attrs, v->nattrs)) return -1;
    return 0;
}

int sl_msgpack_encode(sl_buf *b, const sl_rview *v)
{
    size_t mark = b->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write);
    if (encode(&pk, v) != 0) {
        b->len = mark;
        return -1;
    }
    return 0;
}

int sl_msgpack_meta(sl_buf *b, const sl_meta *m)
{
    size_t mark = b->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write);
    size_t n = 4 + (m->service != NULL) + (m->host != NULL);
    int bad = msgpack_pack_map(&pk, n) || pack_lit(&pk, "type") || pack_lit(&pk, "meta") ||
              pack_lit(&pk, "format") || pack_lit(&pk, SL_FORMAT_NAME) || pack_lit(&pk, "pid") ||
              msgpack_pack_int64(&pk, m->pid);
    if (!bad && m->service)
        bad = pack_lit(&pk, "service") || pack_text(&pk, m->service, strlen(m->service), 0);
    if (!bad && m->host) bad = pack_lit(&pk, "host") || pack_text(&pk, m->host, strlen(m->host), 0);
    if (!bad) bad = pack_lit(&pk, "ts") || msgpack_pack_uint64(&pk, m->ts);
    if (bad) {
        b->len = mark;
        return -1;
    }
    return 0;
}
