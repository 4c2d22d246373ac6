/*
 * otlp_spans.c: records -> OTLP span views, through the core's span
 * assembler (streaming: a span is handed out when it ends, then forgotten).
 *
 * Key idea: the assembler keeps a span's attribute and event texts as read;
 * here they become ring-layout attributes (record_view.c) in two reused
 * buffers, so a span costs no allocation once they have grown, and memory
 * stays bounded by the open spans whatever the input size.
 */
#include <stdlib.h>
#include <strings.h>

#include "otlp.h"

struct sl_otlp_spans {
    sl_assembler *as;
    sl_otlp_span_fn fn;
    void *ud;
    sl_buf attrs;             /* the span's attributes */
    sl_buf ev_attrs;          /* its events' attributes, one after the other */
    sl_otlp_event *events;
    size_t ecap;
    size_t *ev_off;           /* where each event's attributes start in ev_attrs */
    char *service, *host;
    size_t service_len, host_len;
    int have_meta, finished, include_open;
    uint64_t handed, dropped_open, bad;
};

sl_otlp_spans *sl_otlp_spans_new(sl_otlp_span_fn fn, void *ud)
{
    sl_otlp_spans *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    sl_assembler_opts o = {0};
    o.mode = SL_ASM_STREAM;
    if (!(x->as = sl_assembler_new(&o, NULL))) {
        free(x);
        return NULL;
    }
    x->fn = fn;
    x->ud = ud;
    return x;
}

static int status_of(const char *s, size_t n)
{
    if (n == 5 && memcmp(s, "error", 5) == 0) return SL_STATUS_ERROR;
    if (n == 9 && memcmp(s, "abandoned", 9) == 0) return SL_STATUS_ABANDONED;
    if (n == 4 && memcmp(s, "open", 4) == 0) return SL_OTLP_OPEN;
    return SL_STATUS_OK;
}

/* The span's attribute texts, merged into x->attrs (bad texts skipped, counted). */
static void collect_attrs(sl_otlp_spans *x, uint32_t ref, uint32_t *n)
{
    size_t pos = 0;
    const char *json;
    size_t len;
    x->attrs.len = 0;
    *n = 0;
    while (sl_assembler_attrs_next(x->as, ref, &pos, &json, &len))
        if (sl_attrs_from_json(json, len, &x->attrs, n) != SL_OK) x->bad++;
}

static int collect_events(sl_otlp_spans *x, uint32_t ref, size_t *nevents)
{
    size_t pos = 0, n = 0;
    sl_aevent e;
    x->ev_attrs.len = 0;
    while (sl_assembler_event_next(x->as, ref, &pos, &e)) {
        if (n == x->ecap) {
            size_t cap = x->ecap ? x->ecap * 2 : 16;
            sl_otlp_event *ne = realloc(x->events, cap * sizeof *ne);
            if (!ne) return SL_ENOMEM;
            x->events = ne;
            size_t *no = realloc(x->ev_off, cap * sizeof *no);
            if (!no) return SL_ENOMEM;
            x->ev_off = no;
            x->ecap = cap;
        }
        sl_otlp_event *ev = &x->events[n];
        memset(ev, 0, sizeof *ev);
        ev->name = e.name ? e.name : "";
        ev->name_len = e.name ? e.name_len : 0;
        ev->ts = e.ts;
        x->ev_off[n] = x->ev_attrs.len;
        if (e.attrs_json && sl_attrs_from_json(e.attrs_json, e.attrs_len, &x->ev_attrs, &ev->nattrs) != SL_OK)
            x->bad++;
        n++;
    }
    /* pointers only now: the buffer may have moved while it grew */
    for (size_t i = 0; i < n; i++) x->events[i].attrs = x->ev_attrs.ptr + x->ev_off[i];
    *nevents = n;
    return SL_OK;
}

static int hand_out(sl_otlp_spans *x, const sl_aspan *a)
{
    if (!(a->flags & SL_ASPAN_STARTED)) {   /* only its end was seen: nothing to export */
        x->bad++;
        return SL_OK;
    }
    sl_otlp_span s;
    memset(&s, 0, sizeof s);
    s.trace = a->trace;
    s.id = a->id;
    s.parent = a->parent;
    s.has_parent = (a->flags & SL_ASPAN_HAS_PARENT) != 0;
    s.parent_remote = (a->flags & SL_ASPAN_REMOTE_PARENT) != 0;
    s.name = a->name;
    s.name_len = a->name_len;
    s.start = a->start;
    s.end = a->finish;
    s.status = status_of(a->status, a->status_len);
    s.error = a->error;
    s.error_len = a->error ? a->error_len : 0;
    s.lane = a->lane;
    if (s.status == SL_OTLP_OPEN) {
        if (!x->include_open) {
            x->dropped_open++;
            return SL_OK;
        }
        sl_asm_stats st;
        sl_assembler_stats(x->as, &st);
        s.end = st.max_ts > s.start ? st.max_ts : s.start;
    }
    collect_attrs(x, a->ref, &s.nattrs);
    s.attrs = x->attrs.ptr;
    s.kind = sl_otlp_span_kind(s.attrs, s.nattrs);
    if (collect_events(x, a->ref, &s.nevents) != SL_OK) return SL_ENOMEM;
    s.events = x->events;
    x->handed++;
    return x->fn(x->ud, &s);
}

int sl_otlp_span_kind(const char *p, uint32_t n)
{
    static const char *const names[] = {"internal", "server", "client", "producer", "consumer"};
    int kind = 1;
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        if (a.type == SL_ATTR_ARRAY) {
            for (size_t j = 0; j < a.len; j++) {
                sl_aview item;
                p = sl_attr_read(p, &item);
            }
            continue;
        }
        if (a.type != SL_ATTR_STRING || a.key_len != 9 || memcmp(a.key, "span.kind", 9) != 0) continue;
        for (int k = 0; k < 5; k++)
            if (a.len == strlen(names[k]) && strncasecmp(a.s, names[k], a.len) == 0) kind = k + 1;
    }
    return kind;
}

/* Hands out every span the assembler has ready. */
static int pump(sl_otlp_spans *x)
{
    sl_aspan a;
    int rc;
    while ((rc = sl_assembler_next(x->as, &a)) == SL_OK)
        if ((rc = hand_out(x, &a)) != SL_OK) return rc;
    return rc == SL_EAGAIN || rc == SL_EOF ? SL_OK : rc;
}

static char *copy_text(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

int sl_otlp_spans_record(sl_otlp_spans *x, const sl_record *rec)
{
    if (x->finished) return SL_ESTATE;
    if (rec->type == SL_REC_META) {
        if (x->have_meta) return SL_OK;
        x->have_meta = 1;
        if (rec->service && rec->service_len) {
            x->service = copy_text(rec->service, rec->service_len);
            x->service_len = x->service ? rec->service_len : 0;
        }
        if (rec->host && rec->host_len) {
            x->host = copy_text(rec->host, rec->host_len);
            x->host_len = x->host ? rec->host_len : 0;
        }
        return SL_OK;
    }
    int rc = sl_assembler_add(x->as, rec);
    if (rc != SL_OK) return rc;
    return pump(x);
}

int sl_otlp_spans_bytes(sl_otlp_spans *x, const char *data, size_t len)
{
    sl_reader *r = sl_reader_open_mem(data, len, NULL, NULL);
    if (!r) return SL_ENOMEM;
    sl_record rec;
    int rc;
    while ((rc = sl_reader_next(r, &rec)) == SL_OK)
        if ((rc = sl_otlp_spans_record(x, &rec)) != SL_OK) break;
    x->bad += sl_reader_bad_lines(r, NULL, 0);
    sl_reader_close(r);
    return rc == SL_EOF ? SL_OK : rc;
}

int sl_otlp_spans_finish(sl_otlp_spans *x, int include_open)
{
    if (x->finished) return SL_OK;
    x->finished = 1;
    x->include_open = include_open;
    int rc = sl_assembler_finish(x->as);
    if (rc != SL_OK) return rc;
    return pump(x);
}

const char *sl_otlp_spans_service(const sl_otlp_spans *x, size_t *len)
{
    *len = x->service_len;
    return x->service;
}

const char *sl_otlp_spans_host(const sl_otlp_spans *x, size_t *len)
{
    *len = x->host_len;
    return x->host;
}

void sl_otlp_spans_counts(const sl_otlp_spans *x, uint64_t *out_spans, uint64_t *open,
                          uint64_t *dropped_open, uint64_t *bad)
{
    sl_asm_stats st;
    sl_assembler_stats(x->as, &st);
    if (out_spans) *out_spans = x->handed;
    if (open) *open = st.open;
    if (dropped_open) *dropped_open = x->dropped_open;
    if (bad) *bad = x->bad;
}

void sl_otlp_spans_free(sl_otlp_spans *x)
{
    if (!x) return;
    sl_assembler_free(x->as);
    sl_buf_free(&x->attrs);
    sl_buf_free(&x->ev_attrs);
    free(x->events);
    free(x->ev_off);
    free(x->service);
    free(x->host);
    free(x);
}
