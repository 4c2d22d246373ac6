/*
 * reader_msgpack.c: one unpacked msgpack map (msgpack-c) -> sl_record.
 *
 * Key idea: the same keys as JSONL; ids are 16-byte bin (8-byte bin for a
 * remote W3C parent; 32/16-hex strings are accepted too), ts is a uint64,
 * and `attrs` is turned into JSON text by the core's one JSON writer
 * (json.h), so everything above the reader sees one shape, and the same
 * bytes, whatever the input format.
 */
#include <msgpack.h>
#include <string.h>

#include "json.h"
#include "reader_internal.h"

/* ===== ATTRS AS JSON (the JSON writer of json.c) ===== */

#define MAX_DEPTH 32
#define MAX_BIN_AS_HEX 64

/* Room for one scalar, then the cursor at the end of b. */
static char *room(sl_buf *b, size_t n)
{
    return sl_buf_reserve(b, n) == SL_OK ? b->ptr + b->len : NULL;
}

static int put_str(sl_buf *b, const char *s, size_t n)
{
    char *o = room(b, SL_JSON_STR_BOUND(n));
    if (!o) return SL_ENOMEM;
    b->len = (size_t)(sl_json_str(o, s, n, 0) - b->ptr);
    return SL_OK;
}

/* A bin value: its bytes as a hex string (long ones as "<bin>"). */
static int put_bin(sl_buf *b, const msgpack_object_bin *bin)
{
    char *o = room(b, 2 * MAX_BIN_AS_HEX + 8);
    if (!o) return SL_ENOMEM;
    if (bin->size > MAX_BIN_AS_HEX) {
        o = SL_PUT_LIT(o, "\"<bin>\"");
    } else {
        *o++ = '"';
        o = sl_hex_put(o, (const uint8_t *)bin->ptr, bin->size);
        *o++ = '"';
    }
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

static int put_json(sl_buf *b, const msgpack_object *v, int depth);

static int put_array(sl_buf *b, const msgpack_object_array *a, int depth)
{
    if (sl_buf_putc(b, '[') != SL_OK) return SL_ENOMEM;
    for (uint32_t i = 0; i < a->size; i++) {
        if (i && sl_buf_putc(b, ',') != SL_OK) return SL_ENOMEM;
        int rc = put_json(b, &a->ptr[i], depth + 1);
        if (rc != SL_OK) return rc;
    }
    return sl_buf_putc(b, ']');
}

/* A map with string keys (nested maps are written too, though a spanline
 * writer never makes one). */
static int put_map(sl_buf *b, const msgpack_object_map *m, int depth)
{
    if (sl_buf_putc(b, '{') != SL_OK) return SL_ENOMEM;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object_kv *kv = &m->ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) return SL_EPARSE;
        if (i && sl_buf_putc(b, ',') != SL_OK) return SL_ENOMEM;
        if (put_str(b, kv->key.via.str.ptr, kv->key.via.str.size) != SL_OK) return SL_ENOMEM;
        if (sl_buf_putc(b, ':') != SL_OK) return SL_ENOMEM;
        int rc = put_json(b, &kv->val, depth + 1);
        if (rc != SL_OK) return rc;
    }
    return sl_buf_putc(b, '}');
}

static int put_json(sl_buf *b, const msgpack_object *v, int depth)
{
    if (depth > MAX_DEPTH) return SL_EPARSE;
    switch (v->type) {
    case MSGPACK_OBJECT_STR: return put_str(b, v->via.str.ptr, v->via.str.size);
    case MSGPACK_OBJECT_BIN: return put_bin(b, &v->via.bin);
    case MSGPACK_OBJECT_ARRAY: return put_array(b, &v->via.array, depth);
    case MSGPACK_OBJECT_MAP: return put_map(b, &v->via.map, depth);
    default: break;
    }
    char *o = room(b, SL_JSON_SCALAR_BOUND);
    if (!o) return SL_ENOMEM;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL: o = SL_PUT_LIT(o, "null"); break;
    case MSGPACK_OBJECT_BOOLEAN: o = v->via.boolean ? SL_PUT_LIT(o, "true") : SL_PUT_LIT(o, "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: o = sl_json_u64(o, v->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: o = sl_json_i64(o, v->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: o = sl_json_double(o, v->via.f64); break;
    default: return SL_EPARSE;   /* ext */
    }
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

/* ===== RECORDS ===== */

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
    if (v->type == MSGPACK_OBJECT_STR) {
        *is_short = v->via.str.size == 16;
        return sl_id_from_hex(v->via.str.ptr, v->via.str.size, out);
    }
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

int sl_msgpack_record(const void *obj, sl_buf *scratch, sl_record *out)
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
        else if (KEY("dropped")) {
            int64_t n = 0;
            rc = get_int(v, &n);
            if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) rc = SL_EPARSE;
            out->dropped = (uint64_t)n;
        }
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
    int t = type ? sl_record_type_named(type, type_len) : -1;
    if (t < 0) return SL_EPARSE;
    out->type = (sl_record_type)t;
    if (t == SL_REC_META) return SL_OK;
    if (!have_id) return SL_EPARSE;
    return sl_record_check(out);
}
