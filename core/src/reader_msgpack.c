/*
 * reader_msgpack.c: one unpacked msgpack map (msgpack-c) -> sl_record.
 *
 * Key idea: the same keys as JSONL; ids are 16-byte bin (8-byte bin for a
 * remote W3C parent; 32/16-hex strings are accepted too), ts is a uint64,
 * and `attrs` is re-encoded as JSON text so everything above the reader
 * sees one shape whatever the input format.
 */
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "reader_internal.h"

static int put(sl_rbuf *b, const char *s, size_t n)
{
    if (sl_rbuf_reserve(b, n) != SL_OK) return SL_ENOMEM;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    return SL_OK;
}

/* Attribute values: scalars, flat arrays (nested ones are encoded anyway). */
static int put_json(sl_rbuf *b, const msgpack_object *o, int depth)
{
    char tmp[64];
    int n;
    if (depth > 32) return SL_EPARSE;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return put(b, "null", 4);
    case MSGPACK_OBJECT_BOOLEAN: return o->via.boolean ? put(b, "true", 4) : put(b, "false", 5);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)o->via.u64);
        return put(b, tmp, (size_t)n);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(tmp, sizeof tmp, "%lld", (long long)o->via.i64);
        return put(b, tmp, (size_t)n);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isnan(o->via.f64)) return put(b, "\"NaN\"", 5);
        if (isinf(o->via.f64)) return o->via.f64 > 0 ? put(b, "\"Infinity\"", 10) : put(b, "\"-Infinity\"", 11);
        n = snprintf(tmp, sizeof tmp, "%.17g", o->via.f64);
        return put(b, tmp, (size_t)n);
    case MSGPACK_OBJECT_STR: return sl_json_put_string(b, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: {
        char hex[2 * 64 + 1];
        if (o->via.bin.size > 64) return sl_json_put_string(b, "<bin>", 5);
        sl_reader_hex((const uint8_t *)o->via.bin.ptr, o->via.bin.size, hex);
        return sl_json_put_string(b, hex, 2 * o->via.bin.size);
    }
    case MSGPACK_OBJECT_ARRAY:
        if (put(b, "[", 1)) return SL_ENOMEM;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i && put(b, ",", 1)) return SL_ENOMEM;
            if (put_json(b, &o->via.array.ptr[i], depth + 1)) return SL_EPARSE;
        }
        return put(b, "]", 1);
    case MSGPACK_OBJECT_MAP:
        if (put(b, "{", 1)) return SL_ENOMEM;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) return SL_EPARSE;
            if (i && put(b, ",", 1)) return SL_ENOMEM;
            if (sl_json_put_string(b, kv->key.via.str.ptr, kv->key.via.str.size)) return SL_ENOMEM;
            if (put(b, ":", 1)) return SL_ENOMEM;
            if (put_json(b, &kv->val, depth + 1)) return SL_EPARSE;
        }
        return put(b, "}", 1);
    default: return SL_EPARSE;
    }
}

static int get_id(const msgpack_object *v, sl_id *out, int *is_short)
{
    *is_short = 0;
    memset(out->bytes, 0, sizeof out->bytes);
    if (v->type == MSGPACK_OBJECT_BIN) {
        if (v->via.bin.size == 16) memcpy(out->bytes, v->via.bin.ptr, 16);
        else if (v->via.bin.size == 8) { memcpy(out->bytes + 8, v->via.bin.ptr, 8); *is_short = 1; }
        else return SL_EPARSE;
        return SL_OK;
    }
    if (v->type == MSGPACK_OBJECT_STR) return sl_reader_parse_hex_id(v->via.str.ptr, v->via.str.size, out, is_short);
    return SL_EPARSE;
}

static int get_str(const msgpack_object *v, const char **s, size_t *n)
{
    if (v->type == MSGPACK_OBJECT_NIL) return SL_OK;
    if (v->type != MSGPACK_OBJECT_STR) return SL_EPARSE;
    *s = v->via.str.ptr;
    *n = v->via.str.size;
    return SL_OK;
}

static int get_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) *out = (int64_t)v->via.u64;
    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) *out = v->via.i64;
    else return SL_EPARSE;
    return SL_OK;
}

#define KEY(lit) (k->size == sizeof(lit) - 1 && memcmp(k->ptr, lit, sizeof(lit) - 1) == 0)

int sl_msgpack_record(const void *obj, sl_rbuf *scratch, sl_record *out)
{
    const msgpack_object *o = obj;
    const char *type = NULL;
    size_t type_len = 0;
    int have_id = 0, is_short = 0;
    size_t attrs_off = 0;
    int have_attrs = 0;
    int64_t ts = 0;

    memset(out, 0, sizeof *out);
    scratch->len = 0;
    if (o->type != MSGPACK_OBJECT_MAP) return SL_EPARSE;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) return SL_EPARSE;
        const msgpack_object_str *k = &kv->key.via.str;
        const msgpack_object *v = &kv->val;
        int rc = SL_OK;
        if (KEY("type")) rc = get_str(v, &type, &type_len);
        else if (KEY("id")) { rc = get_id(v, &out->id, &is_short); have_id = 1; if (is_short) rc = SL_EPARSE; }
        else if (KEY("trace")) {
            if (v->type != MSGPACK_OBJECT_NIL) {
                rc = get_id(v, &out->trace, &is_short);
                if (is_short) rc = SL_EPARSE;
                out->has_trace = 1;
            }
        } else if (KEY("parent")) {
            if (v->type != MSGPACK_OBJECT_NIL) {
                rc = get_id(v, &out->parent, &is_short);
                out->has_parent = 1;
                out->parent_short = (uint8_t)is_short;
            }
        } else if (KEY("name")) rc = get_str(v, &out->name, &out->name_len);
        else if (KEY("ts")) { rc = get_int(v, &ts); if (ts < 0 && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) rc = SL_EPARSE; }
        else if (KEY("lane")) rc = get_int(v, &out->lane);
        else if (KEY("pid")) rc = get_int(v, &out->pid);
        else if (KEY("status")) rc = get_str(v, &out->status, &out->status_len);
        else if (KEY("error")) rc = get_str(v, &out->error, &out->error_len);
        else if (KEY("format")) rc = get_str(v, &out->format, &out->format_len);
        else if (KEY("service")) rc = get_str(v, &out->service, &out->service_len);
        else if (KEY("host")) rc = get_str(v, &out->host, &out->host_len);
        else if (KEY("attrs")) {
            if (v->type == MSGPACK_OBJECT_MAP) {
                attrs_off = scratch->len;
                rc = put_json(scratch, v, 0);
                have_attrs = 1;
            } else if (v->type != MSGPACK_OBJECT_NIL) rc = SL_EPARSE;
        }
        if (rc != SL_OK) return SL_EPARSE;
    }
    out->ts = (uint64_t)ts;
    if (have_attrs) {
        out->attrs_json = scratch->ptr + attrs_off;
        out->attrs_len = scratch->len - attrs_off;
    }
    if (!type) return SL_EPARSE;
    if (type_len == 4 && !memcmp(type, "meta", 4)) { out->type = SL_REC_META; return SL_OK; }
    if (type_len == 5 && !memcmp(type, "start", 5)) out->type = SL_REC_START;
    else if (type_len == 5 && !memcmp(type, "event", 5)) out->type = SL_REC_EVENT;
    else if (type_len == 4 && !memcmp(type, "attr", 4)) out->type = SL_REC_ATTR;
    else if (type_len == 3 && !memcmp(type, "end", 3)) out->type = SL_REC_END;
    else return SL_EPARSE;
    if (!have_id) return SL_EPARSE;
    if (out->type == SL_REC_END && !out->status) return SL_EPARSE;
    if ((out->type == SL_REC_START || out->type == SL_REC_EVENT) && !out->name) return SL_EPARSE;
    return SL_OK;
}
