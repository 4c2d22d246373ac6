/*
 * record_view.c: records read back (sl_record) in the write side's shapes:
 * their JSON attribute text as ring-layout attributes, and a whole record as
 * an sl_rview, so the encoders that write a tracer's records (JSONL,
 * MessagePack) and the OTLP encoders re-encode read records too, and a
 * conversion between formats has one writer per format.
 *
 * Key idea: attribute text is a flat JSON object (design.md §3); its values
 * keep their JSON types (an integer stays an integer, a number with a
 * fraction or exponent is a double), so JSONL -> MessagePack -> JSONL gives
 * the same bytes. Values outside the record format (nested objects) are
 * kept as their JSON text, null as the string "null".
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>

#include "json.h"
#include "otlp.h"

typedef struct cursor {
    const char *p, *e;
} cursor;

static void ws(cursor *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* A JSON string (at its opening quote), unescaped, appended to b. */
static int string(cursor *c, sl_buf *b)
{
    if (c->p >= c->e || *c->p != '"') return SL_EPARSE;
    c->p++;
    if (sl_buf_reserve(b, (size_t)(c->e - c->p)) != SL_OK) return SL_ENOMEM;
    char *d = b->ptr + b->len;
    const char *next = sl_json_unescape(c->p, c->e, d, &d);
    if (!next) return SL_EPARSE;
    b->len = (size_t)(d - b->ptr);
    c->p = next;
    return SL_OK;
}

/* Whether ch ends a literal or a number. (Not strchr: it would find the
 * string's own terminator for a NUL byte in the input.) */
static int ends_token(char ch)
{
    return ch == ',' || ch == ':' || ch == ']' || ch == '}' || ch == ' ' || ch == '\t' || ch == '\r' ||
           ch == '\n';
}

/* Skips any JSON value (for nested objects kept as text). */
static int skip(cursor *c)
{
    int depth = 0;
    do {
        ws(c);
        if (c->p >= c->e) return SL_EPARSE;
        char ch = *c->p;
        if (ch == '"') {
            c->p++;
            while (c->p < c->e && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
            if (c->p >= c->e) return SL_EPARSE;
            c->p++;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->p++;
        } else if (ch == '}' || ch == ']') {
            if (--depth < 0) return SL_EPARSE;
            c->p++;
        } else if (ch == ',' || ch == ':') {
            if (depth == 0) return SL_EPARSE;
            c->p++;
        } else {   /* a literal or a number, to its end */
            const char *from = c->p;
            while (c->p < c->e && !ends_token(*c->p)) c->p++;
            if (c->p == from) return SL_EPARSE;   /* no value starts here */
        }
    } while (depth > 0);
    return SL_OK;
}

/* ===== RING-LAYOUT ATTRIBUTES ===== */

/* Appends a header (value length patched later for strings). */
static int header(sl_buf *b, int type, const char *key, size_t klen, uint32_t len, size_t *at)
{
    if (klen > 65535) klen = sl_utf8_cut(key, klen, 65535);
    sl_ahdr h = {(uint8_t)type, 0, (uint16_t)klen, len};
    *at = b->len;
    if (sl_buf_append(b, &h, sizeof h) != SL_OK || sl_buf_append(b, key, klen) != SL_OK)
        return SL_ENOMEM;
    return SL_OK;
}

static void patch_len(sl_buf *b, size_t at, size_t len)
{
    sl_ahdr h;
    memcpy(&h, b->ptr + at, sizeof h);
    h.len = (uint32_t)len;
    memcpy(b->ptr + at, &h, sizeof h);
}

/* Numbers in the "C" locale whatever the host program set (a reader may
 * run inside a traced program that called setlocale). */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static int number(cursor *c, sl_buf *b, const char *key, size_t klen)
{
    const char *s = c->p;
    int is_double = 0;
    while (c->p < c->e && sl_json_number_char(*c->p)) {
        if (*c->p == '.' || *c->p == 'e' || *c->p == 'E') is_double = 1;
        c->p++;
    }
    size_t n = (size_t)(c->p - s), at;
    if (n == 0 || n > 64) return SL_EPARSE;
    char tmp[65], *end;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!is_double && strcmp(tmp, "-0") != 0) {   /* -0 is the double the JSONL encoder wrote */
        errno = 0;
        long long i = strtoll(tmp, &end, 10);
        if (errno == 0 && *end == '\0') {
            int64_t v = i;
            if (header(b, SL_ATTR_INT, key, klen, 0, &at) != SL_OK) return SL_ENOMEM;
            return sl_buf_append(b, &v, 8);
        }
    }
    pthread_once(&c_locale_once, c_locale_init);
    double d = c_locale ? strtod_l(tmp, &end, c_locale) : strtod(tmp, &end);
    if (*end != '\0') return SL_EPARSE;
    if (header(b, SL_ATTR_DOUBLE, key, klen, 0, &at) != SL_OK) return SL_ENOMEM;
    return sl_buf_append(b, &d, 8);
}

/* One scalar value (or, with nested set, anything: non-scalars as text). */
static int value(cursor *c, sl_buf *b, const char *key, size_t klen, int in_array)
{
    size_t at;
    ws(c);
    if (c->p >= c->e) return SL_EPARSE;
    char ch = *c->p;
    if (ch == '"') {
        if (header(b, SL_ATTR_STRING, key, klen, 0, &at) != SL_OK) return SL_ENOMEM;
        size_t from = b->len;
        int rc = string(c, b);
        if (rc != SL_OK) return rc;
        patch_len(b, at, b->len - from);
        return SL_OK;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9')) return number(c, b, key, klen);
    if (c->e - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
        c->p += 4;
        return header(b, SL_ATTR_BOOL, key, klen, 1, &at);
    }
    if (c->e - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
        c->p += 5;
        return header(b, SL_ATTR_BOOL, key, klen, 0, &at);
    }
    if (ch == '[' && !in_array) {
        /* a flat array: scalar items with empty keys; anything else as text */
        cursor save = *c;
        size_t mark = b->len;
        if (header(b, SL_ATTR_ARRAY, key, klen, 0, &at) != SL_OK) return SL_ENOMEM;
        c->p++;
        uint32_t items = 0;
        ws(c);
        int rc = SL_OK;
        if (c->p < c->e && *c->p == ']') {
            c->p++;
        } else {
            for (;;) {
                ws(c);
                if (c->p < c->e && (*c->p == '[' || *c->p == '{' || *c->p == 'n')) {
                    rc = SL_EPARSE;
                    break;
                }
                if ((rc = value(c, b, "", 0, 1)) != SL_OK) break;
                items++;
                ws(c);
                if (c->p < c->e && *c->p == ',') {
                    c->p++;
                    continue;
                }
                if (c->p < c->e && *c->p == ']') {
                    c->p++;
                    break;
                }
                rc = SL_EPARSE;
                break;
            }
        }
        if (rc == SL_OK) {
            patch_len(b, at, items);
            return SL_OK;
        }
        if (rc == SL_ENOMEM) return rc;
        b->len = mark;
        *c = save;
    }
    /* null, objects, nested arrays: their JSON text as a string */
    const char *s = c->p;
    int rc = skip(c);
    if (rc != SL_OK) return rc;
    if (header(b, SL_ATTR_STRING, key, klen, (uint32_t)(c->p - s), &at) != SL_OK) return SL_ENOMEM;
    return sl_buf_append(b, s, (size_t)(c->p - s));
}

int sl_attrs_from_json(const char *json, size_t len, sl_buf *blob, uint32_t *n)
{
    cursor c = {json, json + len};
    size_t mark = blob->len;
    uint32_t count = 0;
    sl_buf key = {0};
    int rc = SL_EPARSE;
    ws(&c);
    if (c.p >= c.e || *c.p++ != '{') goto out;
    ws(&c);
    if (c.p < c.e && *c.p == '}') {
        rc = SL_OK;
        goto out;
    }
    for (;;) {
        ws(&c);
        key.len = 0;
        if ((rc = string(&c, &key)) != SL_OK) goto out;
        ws(&c);
        rc = SL_EPARSE;
        if (c.p >= c.e || *c.p++ != ':') goto out;
        if ((rc = value(&c, blob, key.ptr ? key.ptr : "", key.len, 0)) != SL_OK) goto out;
        count++;
        ws(&c);
        rc = SL_EPARSE;
        if (c.p < c.e && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.e && *c.p == '}') rc = SL_OK;
        goto out;
    }
out:
    sl_buf_free(&key);
    if (rc != SL_OK) {
        blob->len = mark;
        return rc;
    }
    *n += count;
    return SL_OK;
}

/* ===== RECORDS ===== */

static int status_code(const char *s, size_t n)
{
    if (n == 5 && memcmp(s, "error", 5) == 0) return SL_STATUS_ERROR;
    if (n == 9 && memcmp(s, "abandoned", 9) == 0) return SL_STATUS_ABANDONED;
    return SL_STATUS_OK;
}

int sl_record_view(const sl_record *rec, sl_buf *blob, sl_rview *v)
{
    memset(v, 0, sizeof *v);
    if (rec->type < SL_REC_START || rec->type > SL_REC_END) return SL_EINVAL;
    v->type = (int)rec->type;
    v->ts = rec->ts;
    v->id = rec->id;
    v->lane = rec->lane > 0 && rec->lane <= UINT32_MAX ? (uint32_t)rec->lane : 0;
    if (rec->type == SL_REC_START) {
        v->trace = rec->has_trace ? rec->trace : rec->id;
        if (rec->has_parent) {
            v->flags |= SL_RF_HAS_PARENT;
            v->parent = rec->parent;
            if (rec->parent_short) v->flags |= SL_RF_PARENT_REMOTE;
        }
    }
    if (rec->type == SL_REC_END) {
        v->status = status_code(rec->status, rec->status_len);
        if (v->status == SL_STATUS_ERROR && rec->error) {
            v->text = rec->error;
            v->text_len = rec->error_len;
        }
    } else if (rec->name) {
        v->text = rec->name;
        v->text_len = rec->name_len;
    }
    blob->len = 0;
    if (rec->type != SL_REC_END && rec->attrs_json) {
        int rc = sl_attrs_from_json(rec->attrs_json, rec->attrs_len, blob, &v->nattrs);
        if (rc != SL_OK) return rc;
        v->attrs = blob->ptr;
    }
    return SL_OK;
}

int sl_record_meta(const sl_record *rec, sl_buf *text, sl_meta *m)
{
    memset(m, 0, sizeof *m);
    if (rec->type != SL_REC_META) return SL_EINVAL;
    m->pid = rec->pid;
    m->ts = rec->ts;
    text->len = 0;
    if (sl_buf_reserve(text, rec->service_len + rec->host_len + 2) != SL_OK) return SL_ENOMEM;
    if (rec->service) {
        m->service = text->ptr;
        memcpy(text->ptr, rec->service, rec->service_len);
        text->ptr[rec->service_len] = '\0';
        text->len = rec->service_len + 1;
    }
    if (rec->host) {
        m->host = text->ptr + text->len;
        memcpy(text->ptr + text->len, rec->host, rec->host_len);
        text->ptr[text->len + rec->host_len] = '\0';
    }
    return SL_OK;
}

/* ===== RECODER (public) ===== */

struct sl_recoder {
    sl_format format;
    sl_buf out, handed, blob, text;
};

sl_recoder *sl_recoder_open(sl_format format, sl_error *err)
{
    if (format != SL_JSONL && format != SL_MSGPACK) {
        sl_set_error(err, SL_EINVAL, 0, "unknown format %d", (int)format);
        return NULL;
    }
    sl_recoder *rc = calloc(1, sizeof *rc);
    if (!rc) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    rc->format = format;
    return rc;
}

int sl_recoder_record(sl_recoder *rc, const sl_record *rec)
{
    int e;
    if (rec->type == SL_REC_META) {
        sl_meta m;
        e = sl_record_meta(rec, &rc->text, &m);
        if (e == SL_OK) e = rc->format == SL_MSGPACK ? sl_msgpack_meta(&rc->out, &m) : sl_jsonl_meta(&rc->out, &m);
    } else {
        sl_rview v;
        e = sl_record_view(rec, &rc->blob, &v);
        if (e == SL_OK) e = rc->format == SL_MSGPACK ? sl_msgpack_encode(&rc->out, &v) : sl_jsonl_encode(&rc->out, &v);
    }
    return e;
}

const char *sl_recoder_output(sl_recoder *rc, size_t *len)
{
    *len = sl_buf_hand_out(&rc->out, &rc->handed);
    return *len ? rc->handed.ptr : "";
}

void sl_recoder_close(sl_recoder *rc)
{
    if (!rc) return;
    sl_buf_free(&rc->out);
    sl_buf_free(&rc->handed);
    sl_buf_free(&rc->blob);
    sl_buf_free(&rc->text);
    free(rc);
}
