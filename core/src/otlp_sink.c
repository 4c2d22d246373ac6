/*
 * otlp_sink.c: the tracer's OTLP sink (SL_SINK_OTLP): a running tracer
 * ships its spans to an OpenTelemetry collector itself.
 *
 * Key idea: the sink gets the same whole-line JSONL batches as any sink and
 * hands them to an sl_otlp with an endpoint (otlp_export.c), which reads
 * them back, rebuilds the spans with the core's assembler and queues them
 * for its own HTTP thread. So the writer never waits for the network, and
 * what the collector gets is exactly what a file would hold. At close the
 * spans still open (the tracer has ended its own as abandoned by then) go
 * out with spanline.open = true, and delivery gets up to SL_OTLP_CLOSE_MS;
 * at exit without close, the same wait for what was written.
 *
 * Configuration: cfg->path is the endpoint ("otlp+http://HOST:4318", path
 * /v1/traces added when none is given); headers and encoding come from
 * cfg->export_headers / export_json, else from the standard variables
 * OTEL_EXPORTER_OTLP_TRACES_HEADERS / OTEL_EXPORTER_OTLP_HEADERS ("k=v,k2=v2")
 * and OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL
 * ("http/json"; default "http/protobuf").
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "tracer_impl.h"

#define SL_OTLP_CLOSE_MS 5000

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    return v && *v ? v : getenv(b);
}

/* "k=v,k2=v2" (the OTEL_*_HEADERS form) as "k: v\nk2: v2\n" lines. */
static char *headers_from_env(void)
{
    const char *e = env2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
    if (!e || !*e) return NULL;
    char *out = malloc(2 * strlen(e) + 2), *o = out;
    if (!out) return NULL;
    for (const char *p = e; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            while (p < eq && *p == ' ') p++;
            memcpy(o, p, (size_t)(eq - p));
            o += eq - p;
            *o++ = ':';
            *o++ = ' ';
            memcpy(o, eq + 1, (size_t)(p + len - eq - 1));
            o += p + len - eq - 1;
            *o++ = '\n';
        }
        p = end ? end + 1 : p + len;
    }
    *o = '\0';
    return out;
}

int sl_otlp_sink_open(sl_otlp **out, const sl_config *cfg, sl_error *err)
{
    *out = NULL;
    if (cfg->format != SL_JSONL) {
        sl_set_error(err, SL_EINVAL, 0, "otlp sink: the tracer's format must be jsonl");
        return SL_EINVAL;
    }
    char *env_headers = cfg->export_headers ? NULL : headers_from_env();
    const char *proto = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
    sl_otlp_opts o;
    memset(&o, 0, sizeof o);
    o.endpoint = cfg->path ? cfg->path : "";
    o.headers = cfg->export_headers ? cfg->export_headers : env_headers;
    o.json = cfg->export_json || (proto && strcmp(proto, "http/json") == 0);
    o.include_open = 1;
    o.service = cfg->service;
    sl_error e;
    memset(&e, 0, sizeof e);
    *out = sl_otlp_open(&o, &e);
    free(env_headers);
    if (!*out) {
        if (err) *err = e;
        return e.code ? e.code : SL_ENOMEM;
    }
    return SL_OK;
}

int sl_otlp_sink_write(sl_otlp *x, const char *data, size_t len)
{
    int rc = sl_otlp_bytes(x, data, len);
    return rc == SL_OK ? 0 : rc == SL_ENOMEM ? ENOMEM : EIO;
}

void sl_otlp_sink_exit(sl_otlp *x)
{
    sl_otlp_drain(x, SL_OTLP_CLOSE_MS);
}

void sl_otlp_sink_close(sl_otlp *x)
{
    if (!x) return;
    sl_otlp_finish(x);
    sl_otlp_close(x, SL_OTLP_CLOSE_MS);
}

int sl_tracer_export_stats(sl_tracer *t, sl_export_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t || t->sink.kind != SL_SINK_OTLP || !t->sink.otlp) return SL_EINVAL;
    sl_otlp_stats(t->sink.otlp, out);
    return SL_OK;
}
