/*
 * otlp_export.c: sl_otlp, the public face of OTLP export: records in,
 * requests out (kept for the caller, or posted by the exporter), used alike
 * by the tracer's OTLP sink, `spanline export` and its --endpoint push.
 *
 * Key idea: one pipeline, two ends. Records become span views
 * (otlp_spans.c, over the core's assembler); a view goes either into a
 * local batch, sealed into a request every batch_spans spans (files), or
 * to the exporter, whose thread does the HTTP (otlp_http.c). The resource
 * (service.name, host.name) is the stream's first meta record's, set
 * before the first span goes out.
 */
#include <stdlib.h>

#include "otlp.h"

struct sl_otlp {
    sl_otlp_spans *spans;
    sl_otlp_exporter *x;      /* with an endpoint */
    sl_otlp_batch batch;      /* without: the request being filled */
    sl_buf out;               /* requests finished, not handed out yet */
    sl_buf handed;            /* the ones sl_otlp_output returned last */
    size_t batch_spans;
    int include_open, have_resource, finished;
    char *service;            /* fallback service.name */
    uint64_t exported;
};

static void set_resource(sl_otlp *o)
{
    size_t sn = 0, hn = 0;
    const char *svc = sl_otlp_spans_service(o->spans, &sn), *host = sl_otlp_spans_host(o->spans, &hn);
    if (!svc && o->service) {
        svc = o->service;
        sn = strlen(svc);
    }
    o->have_resource = 1;
    if (o->x) sl_otlp_exporter_resource(o->x, svc, sn, host, hn);
    else sl_otlp_batch_resource(&o->batch, svc, sn, host, hn);
}

/* The batch as one more finished request in out. */
static int seal(sl_otlp *o)
{
    if (!o->batch.nspans) return SL_OK;
    size_t mark = o->out.len;
    int rc = sl_otlp_batch_finish(&o->batch, &o->out);
    if (rc == SL_OK && o->batch.format == SL_OTLP_JSON && (rc = sl_buf_putc(&o->out, '\n')) != SL_OK)
        o->out.len = mark;
    return rc;
}

static int on_span(void *ud, const sl_otlp_span *s)
{
    sl_otlp *o = ud;
    if (!o->have_resource) set_resource(o);
    o->exported++;
    if (o->x) {
        sl_otlp_exporter_add(o->x, s);   /* a full queue drops it: counted there */
        return SL_OK;
    }
    int rc = sl_otlp_batch_add(&o->batch, s);
    if (rc == SL_OK && o->batch.nspans >= o->batch_spans) rc = seal(o);
    return rc;
}

sl_otlp *sl_otlp_open(const sl_otlp_opts *opts, sl_error *err)
{
    sl_otlp_opts none;
    if (!opts) {
        memset(&none, 0, sizeof none);
        opts = &none;
    }
    sl_otlp *o = calloc(1, sizeof *o);
    if (!o || (opts->service && !(o->service = strdup(opts->service))) ||
        !(o->spans = sl_otlp_spans_new(on_span, o))) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        sl_otlp_close(o, 0);
        return NULL;
    }
    sl_otlp_format format = opts->json ? SL_OTLP_JSON : SL_OTLP_PROTO;
    o->include_open = opts->include_open != 0;
    o->batch_spans = opts->batch_spans ? opts->batch_spans : 512;
    sl_otlp_batch_init(&o->batch, format);
    if (opts->endpoint) {
        char *url = sl_otlp_url(opts->endpoint);
        if (!url) {
            sl_set_error(err, SL_EINVAL, 0, "otlp: bad endpoint '%s' (http://HOST:PORT[/path])", opts->endpoint);
            sl_otlp_close(o, 0);
            return NULL;
        }
        sl_otlp_exporter_opts eo;
        memset(&eo, 0, sizeof eo);
        eo.url = url;
        eo.headers = opts->headers;
        eo.format = format;
        eo.batch_spans = o->batch_spans;
        eo.queue_spans = opts->queue_spans;
        eo.batch_delay_ms = opts->batch_delay_ms;
        eo.timeout_ms = opts->timeout_ms;
        o->x = sl_otlp_exporter_new(&eo, err);
        free(url);
        if (!o->x) {
            sl_otlp_close(o, 0);
            return NULL;
        }
    }
    return o;
}

int sl_otlp_record(sl_otlp *o, const sl_record *rec)
{
    if (o->finished) return SL_ESTATE;
    return sl_otlp_spans_record(o->spans, rec);
}

int sl_otlp_bytes(sl_otlp *o, const char *data, size_t len)
{
    if (o->finished) return SL_ESTATE;
    return sl_otlp_spans_bytes(o->spans, data, len);
}

int sl_otlp_finish(sl_otlp *o)
{
    if (o->finished) return SL_OK;
    o->finished = 1;
    int rc = sl_otlp_spans_finish(o->spans, o->include_open);
    if (rc == SL_OK && !o->x) rc = seal(o);
    return rc;
}

const char *sl_otlp_output(sl_otlp *o, size_t *len)
{
    *len = sl_buf_hand_out(&o->out, &o->handed);
    return *len ? o->handed.ptr : NULL;
}

int sl_otlp_drain(sl_otlp *o, uint32_t timeout_ms)
{
    return o->x ? sl_otlp_exporter_drain(o->x, timeout_ms) : SL_OK;
}

void sl_otlp_stats(sl_otlp *o, sl_export_stats *out)
{
    memset(out, 0, sizeof *out);
    if (o->x) sl_otlp_exporter_stats(o->x, out);
    out->spans = o->exported;
    sl_otlp_spans_counts(o->spans, NULL, NULL, &out->open_dropped, &out->bad);
}

void sl_otlp_close(sl_otlp *o, uint32_t timeout_ms)
{
    if (!o) return;
    sl_otlp_exporter_free(o->x, timeout_ms);
    sl_otlp_spans_free(o->spans);
    sl_otlp_batch_free(&o->batch);
    sl_buf_free(&o->out);
    sl_buf_free(&o->handed);
    free(o->service);
    free(o);
}
