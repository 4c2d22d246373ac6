/*
 * jsonl.c: the JSONL encoder: spanline/1 lines (design.md §3) from ring
 * records (the tracer's writer) and from reader records (re-encoding what
 * was read from MessagePack or js-logger input, for `spanline filter`).
 *
 * Key idea: both kinds of record are first described as one `line` (which
 * keys are present, and their values), and one function writes a line, so
 * the key order and the value formatting (json.c) exist once whatever the
 * record came from. A line is sized first (a bound), the buffer grown once,
 * then written through a bare cursor.
 */
#include "internal.h"
#include "json.h"
#include "ring_rec.h"
#include "reader_internal.h"

/* The keys of one line, in the order design.md §3 writes them; NULL
 * pointers are absent keys. */
typedef struct line {
    int type;                          /* SL_REC_START .. SL_REC_END */
    const sl_id *id, *trace, *parent;
    int parent_short;                  /* parent: its last 16 digits only */
    const char *name;
    size_t name_len;
    int name_cut;
    uint64_t ts;
    sl_json_ts_cache *ts_cache;        /* NULL: none */
    int has_lane;
    int64_t lane;
    const char *status;
    size_t status_len;
    int status_plain;                  /* status: JSON already, quoted, padded to 16 bytes */
    const char *error;
    size_t error_len;
    int error_cut;
    int in_ring;                       /* name and error in a ring record: sl_json_str_rec */
} line;

#define LIT SL_PUT_LIT

static size_t head_bound(const line *l)
{
    return 256 + SL_JSON_STR_BOUND(l->name_len) + SL_JSON_STR_BOUND(l->status_len) +
           SL_JSON_STR_BOUND(l->error_len);
}

/* Everything but the attrs and the closing brace. Inlined where a line is
 * filled, so the keys a ring record cannot have cost no test there. */
static inline __attribute__((always_inline)) char *head(char *o, const line *l)
{
    switch (l->type) {
    case SL_REC_START: o = LIT(o, "{\"type\":\"start\",\"id\":"); break;
    case SL_REC_EVENT: o = LIT(o, "{\"type\":\"event\",\"id\":"); break;
    case SL_REC_ATTR: o = LIT(o, "{\"type\":\"attr\",\"id\":"); break;
    default: o = LIT(o, "{\"type\":\"end\",\"id\":"); break;
    }
    const char *id_text = o;
    o = sl_json_id(o, l->id, 0);
    if (l->trace) {
        o = LIT(o, ",\"trace\":");
        /* a root span's trace id is its own id: its digits are just written */
        if (memcmp(l->trace->bytes, l->id->bytes, 16) == 0) o = (char *)memcpy(o, id_text, 34) + 34;
        else o = sl_json_id(o, l->trace, 0);
    }
    if (l->parent) {
        o = LIT(o, ",\"parent\":");
        o = sl_json_id(o, l->parent, l->parent_short);
    }
    if (l->name) {
        o = LIT(o, ",\"name\":");
        o = l->in_ring ? sl_json_str_rec(o, l->name, l->name_len, l->name_cut)
                       : sl_json_str(o, l->name, l->name_len, l->name_cut);
    }
    o = LIT(o, ",\"ts\":");
    o = sl_json_ts(o, l->ts, l->ts_cache);
    if (l->has_lane) {
        o = LIT(o, ",\"lane\":");
        if ((uint64_t)l->lane < 10) *o++ = (char)('0' + l->lane);   /* most are 1 */
        else o = sl_json_i64(o, l->lane);
    }
    if (l->status) {
        o = LIT(o, ",\"status\":");
        if (l->status_plain) {   /* a quoted literal padded to 16 bytes */
            memcpy(o, l->status, 16);
            o += l->status_len;
        } else {
            o = sl_json_str(o, l->status, l->status_len, 0);
        }
    }
    if (l->error) {
        o = LIT(o, ",\"error\":");
        o = l->in_ring ? sl_json_str_rec(o, l->error, l->error_len, l->error_cut)
                       : sl_json_str(o, l->error, l->error_len, l->error_cut);
    }
    return o;
}

/* ===== RING RECORDS ===== */

/* Per attribute or item at most: key quotes, ':' and ',', brackets, and a
 * number (SL_JSON_SCALAR_BOUND) or a string's quotes and cut mark. */
static size_t attrs_bound_walk(const char *p, uint32_t n)
{
    sl_attrs_size z;
    sl_attrs_measure(p, n, &z);
    return 16 + 6 * (z.key_bytes + z.str_bytes) + (SL_JSON_SCALAR_BOUND + 12) * z.values;
}

static inline __attribute__((always_inline)) size_t attrs_bound(const char *p, uint32_t n, uint32_t size)
{
    /* in a ring record every attribute and item has an 8-byte header, and
     * keys and strings are at most all the bytes: no walk needed */
    if (size) return 16 + 6 * (size_t)size + (SL_JSON_SCALAR_BOUND + 12) * ((size_t)size / 8);
    return attrs_bound_walk(p, n);
}

/* The line of a whole ring record of `size` bytes, one product: the keys,
 * ids and numbers of the head take less than 400 bytes; the text and the
 * keys and strings of attributes are at most all the bytes, 6 out for each
 * (a \u00XX escape); every attribute and item has an 8-byte header and adds
 * at most SL_JSON_SCALAR_BOUND + 12 (number, quotes, cut mark, ',', ':'). */
static inline size_t ring_bound(uint32_t size)
{
    return 400 + (6 + (SL_JSON_SCALAR_BOUND + 12 + 7) / 8) * (size_t)size;
}

static inline __attribute__((always_inline)) char *scalar(char *o, const sl_aview *a)
{
    switch (a->type) {
    case SL_ATTR_STRING: return sl_json_str_rec(o, a->s, a->len, a->trunc);
    case SL_ATTR_INT: return sl_json_i64(o, a->i);
    case SL_ATTR_DOUBLE: return sl_json_double(o, a->d);
    case SL_ATTR_BOOL: return a->len ? LIT(o, "true") : LIT(o, "false");
    default: return LIT(o, "null");
    }
}

static inline __attribute__((always_inline)) char *attrs(char *o, const char *p, uint32_t n)
{
    o = LIT(o, ",\"attrs\":{");
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        if (i) *o++ = ',';
        o = sl_json_str_rec(o, a.key, a.key_len, 0);
        *o++ = ':';
        if (a.type == SL_ATTR_ARRAY) {
            *o++ = '[';
            for (size_t j = 0; j < a.len; j++) {
                sl_aview it;
                p = sl_attr_read(p, &it);
                if (j) *o++ = ',';
                o = scalar(o, &it);
            }
            *o++ = ']';
        } else {
            o = scalar(o, &a);
        }
    }
    *o++ = '}';
    return o;
}

/* The line of a ring record of the given type, every field set once (no
 * zeroing first). Inlined with a constant type, it lets the compiler drop
 * the keys that type cannot have from head(). */
static inline __attribute__((always_inline)) void
ring_line(line *l, const sl_rrec *v, int type, int error, sl_json_ts_cache *ts_cache)
{
    static const char statuses[][16] = {"\"ok\"", "\"error\"", "\"abandoned\""};
    static const size_t status_lens[] = {4, 7, 11};
    int cut = (v->flags & SL_RF_TEXT_TRUNC) != 0;
    int start = type == SL_REC_START, end = type == SL_REC_END;
    int named = start || type == SL_REC_EVENT;
    l->type = type;
    l->id = v->id;
    l->trace = start ? v->trace : NULL;
    l->parent = start && (v->flags & SL_RF_HAS_PARENT) ? v->parent : NULL;
    l->parent_short = (v->flags & SL_RF_PARENT_REMOTE) != 0;
    l->name = named ? v->text : NULL;
    l->name_len = named ? v->text_len : 0;
    l->name_cut = cut;
    l->ts = v->ts;
    l->ts_cache = ts_cache;
    l->has_lane = start;
    l->lane = v->lane;
    l->status = end ? statuses[v->status] : NULL;
    l->status_len = end ? status_lens[v->status] : 0;
    l->status_plain = 1;
    l->error = error ? v->text : NULL;
    l->error_len = error ? v->text_len : 0;
    l->error_cut = cut;
    l->in_ring = v->in_ring;
}

static inline __attribute__((always_inline)) int put_line(sl_buf *b, const line *l, const sl_rrec *v,
                                                          int with_attrs)
{
    size_t bound = v->in_ring ? ring_bound(v->size)
                              : head_bound(l) + (with_attrs ? attrs_bound(v->attrs, v->nattrs, v->attrs_size) : 0);
    if (sl_buf_reserve(b, bound) != SL_OK) return SL_ENOMEM;
    char *o = head(b->ptr + b->len, l);
    if (with_attrs) o = attrs(o, v->attrs, v->nattrs);
    o = LIT(o, "}\n");
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

static inline __attribute__((always_inline)) int
encode_rrec(sl_buf *b, const sl_rrec *v, sl_json_ts_cache *ts_cache)
{
    line l;
    /* the two records of every span first, each its own specialised copy */
    if (v->type == SL_REC_END && (v->status == SL_STATUS_OK || v->status == SL_STATUS_ABANDONED)) {
        ring_line(&l, v, SL_REC_END, 0, ts_cache);
        return put_line(b, &l, v, 0);
    }
    if (v->type == SL_REC_START && v->status <= SL_STATUS_ABANDONED) {
        ring_line(&l, v, SL_REC_START, 0, ts_cache);
        return put_line(b, &l, v, v->nattrs != 0);
    }
    if (v->type < SL_REC_START || v->type > SL_REC_END || v->status > SL_STATUS_ABANDONED) return SL_EINVAL;
    int end = v->type == SL_REC_END;
    ring_line(&l, v, v->type, end && v->status == SL_STATUS_ERROR, ts_cache);
    return put_line(b, &l, v, !end && v->nattrs);
}

int sl_jsonl_encode_ring(sl_buf *b, const char *rec, sl_json_ts_cache *ts_cache)
{
    if (sl_rrec_is_short(rec)) {
        sl_rrec v = sl_rrec_short_at(rec);
        return encode_rrec(b, &v, ts_cache);
    }
    sl_rrec v = sl_rrec_full_at(rec);
    return encode_rrec(b, &v, ts_cache);
}

int sl_jsonl_encode(sl_buf *b, const sl_rview *v)
{
    sl_rrec r = sl_rrec_of_view(v);
    return encode_rrec(b, &r, NULL);
}

/* ===== READER RECORDS ===== */

/* pid, ts and dropped are written when known (nonzero: 0 is what a reader
 * makes of an absent one), so a meta record survives re-encoding unchanged. */
static int meta_line(sl_buf *b, const sl_record *r)
{
    size_t bound = 128 + SL_JSON_STR_BOUND(r->format_len) + SL_JSON_STR_BOUND(r->service_len) +
                   SL_JSON_STR_BOUND(r->host_len);
    if (sl_buf_reserve(b, bound) != SL_OK) return SL_ENOMEM;
    char *o = LIT(b->ptr + b->len, "{\"type\":\"meta\"");
    if (r->format) {
        o = LIT(o, ",\"format\":");
        o = sl_json_str(o, r->format, r->format_len, 0);
    }
    if (r->pid) {
        o = LIT(o, ",\"pid\":");
        o = sl_json_i64(o, r->pid);
    }
    if (r->service) {
        o = LIT(o, ",\"service\":");
        o = sl_json_str(o, r->service, r->service_len, 0);
    }
    if (r->host) {
        o = LIT(o, ",\"host\":");
        o = sl_json_str(o, r->host, r->host_len, 0);
    }
    if (r->ts) {
        o = LIT(o, ",\"ts\":");
        o = sl_json_u64(o, r->ts);
    }
    if (r->dropped) {
        o = LIT(o, ",\"dropped\":");
        o = sl_json_u64(o, r->dropped);
    }
    o = LIT(o, "}\n");
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

int sl_jsonl_meta(sl_buf *b, const sl_meta *m)
{
    sl_record r;
    memset(&r, 0, sizeof r);
    r.type = SL_REC_META;
    r.format = SL_FORMAT_NAME;
    r.format_len = sizeof SL_FORMAT_NAME - 1;
    r.pid = m->pid;
    r.service = m->service;
    r.service_len = m->service ? strlen(m->service) : 0;
    r.host = m->host;
    r.host_len = m->host ? strlen(m->host) : 0;
    r.ts = m->ts;
    r.dropped = m->dropped;
    return meta_line(b, &r);
}

int sl_record_to_jsonl(const sl_record *r, sl_buf *b)
{
    if ((unsigned)r->type > SL_REC_END) return SL_EINVAL;
    if (r->type == SL_REC_META) return meta_line(b, r);
    line l = {
        .type = r->type, .id = &r->id,
        .trace = r->has_trace ? &r->trace : NULL,
        .parent = r->has_parent ? &r->parent : NULL, .parent_short = r->parent_short,
        .name = r->name, .name_len = r->name_len,
        .ts = r->ts,
        .has_lane = r->type == SL_REC_START && r->lane != 0, .lane = r->lane,
        .status = r->status, .status_len = r->status_len,
        .error = r->error, .error_len = r->error_len,
    };
    size_t bound = head_bound(&l) + (r->attrs_json ? 3 * r->attrs_len + 16 : 0);
    if (sl_buf_reserve(b, bound) != SL_OK) return SL_ENOMEM;
    char *o = head(b->ptr + b->len, &l);
    if (r->attrs_json) {
        /* already JSON text: kept as it was written (JSONL input) or built
         * by the one JSON writer (MessagePack input); only invalid UTF-8 a
         * JSONL writer let through is repaired, which keeps it JSON */
        o = LIT(o, ",\"attrs\":");
        b->len = (size_t)(o - b->ptr);
        sl_utf8_sanitize_into(b, r->attrs_json, r->attrs_len);
        o = b->ptr + b->len;
    }
    o = LIT(o, "}\n");
    b->len = (size_t)(o - b->ptr);
    return SL_OK;
}

size_t sl_record_jsonl(const sl_record *rec, char *buf, size_t cap)
{
    /* straight into buf when the line's bound fits there, else through the
     * heap to learn the exact length */
    sl_buf direct = {buf, 0, cap, 1};
    if (sl_record_to_jsonl(rec, &direct) == SL_OK) return direct.len;
    sl_buf heap = {0};
    size_t n = 0;
    if (sl_record_to_jsonl(rec, &heap) == SL_OK) {
        n = heap.len;
        if (n <= cap) memcpy(buf, heap.ptr, n);
    }
    sl_buf_free(&heap);
    return n;
}
