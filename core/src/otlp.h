/*
 * otlp.h: what the OTLP files share: the span view the encoders read
 * (otlp_json.c, otlp_proto.c), the batch they fill (otlp_batch.c), the
 * span source that turns records into views over the core's assembler
 * (otlp_spans.c), and the exporter thread that posts batches to a
 * collector (otlp_http.c). The public face of all of it is sl_otlp
 * (otlp_export.c, spanline.h), used by the tracer's sink (otlp_sink.c)
 * and the CLI.
 *
 * Key idea: one encoder per format over one span view. Attributes in a view
 * are in the ring's binary layout (internal.h: sl_ahdr + key + value, read
 * with sl_attr_read), the layout the JSONL and MessagePack encoders already
 * read; JSON attribute text from a reader is converted into it once
 * (record_view.c), so every path into OTLP shares the same encoders.
 */
#ifndef SL_OTLP_H
#define SL_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* ===== SPAN VIEW ===== */

#define SL_OTLP_OPEN 3   /* status of a span exported while still open */

typedef struct sl_otlp_event {
    const char *name;
    size_t name_len;
    uint64_t ts;
    const char *attrs;       /* ring-layout attributes (sl_attr_read) */
    uint32_t nattrs;
} sl_otlp_event;

typedef struct sl_otlp_span {
    sl_id trace, id, parent;
    uint8_t has_parent;
    uint8_t parent_remote;   /* parent known by its W3C span-id (bytes 8..15) only */
    const char *name;
    size_t name_len;
    uint64_t start, end;
    int status;              /* SL_STATUS_OK / _ERROR / _ABANDONED, or SL_OTLP_OPEN */
    const char *error;       /* status error: the message (may be NULL) */
    size_t error_len;
    int64_t lane;            /* 0: unknown */
    const char *attrs;       /* ring-layout attributes; a key given twice: the last wins */
    uint32_t nattrs;
    const sl_otlp_event *events;
    size_t nevents;
    int kind;                /* OTLP SpanKind: 1 internal .. 5 consumer; 0 means 1 */
} sl_otlp_span;

/* The OTLP SpanKind an attribute "span.kind" names ("internal", "server",
 * "client", "producer", "consumer", any case; the convention of Zipkin,
 * Jaeger and OpenTracing, which the OpenTelemetry Collector maps the same
 * way), or 1 (internal) without one. A key given twice: the last wins. */
int sl_otlp_span_kind(const char *attrs, uint32_t nattrs);

/* ===== RESOURCE AND BATCH ===== */

typedef enum sl_otlp_format { SL_OTLP_PROTO = 0, SL_OTLP_JSON = 1 } sl_otlp_format;

/* An ExportTraceServiceRequest being filled: one resource (service.name,
 * host.name), one scope ("spanline"), the spans added so far. */
typedef struct sl_otlp_batch {
    sl_otlp_format format;
    sl_buf spans;            /* proto: each span framed as ScopeSpans field 2; JSON: ",{...}" */
    size_t nspans;
    sl_buf scratch;          /* proto: one span before its length is known */
    char *service, *host;    /* NULL: unknown_service / no host.name */
} sl_otlp_batch;

void sl_otlp_batch_init(sl_otlp_batch *b, sl_otlp_format format);
/* Sets the resource (copies; NULL or "" leaves a field unset). SL_OK / SL_ENOMEM. */
int sl_otlp_batch_resource(sl_otlp_batch *b, const char *service, size_t service_len,
                           const char *host, size_t host_len);
/* Appends one span: SL_OK, or SL_ENOMEM with the batch as it was. */
int sl_otlp_batch_add(sl_otlp_batch *b, const sl_otlp_span *s);
/* Appends the whole request (the envelope around the spans) to out and
 * empties the batch: SL_OK or SL_ENOMEM (nothing appended, spans kept). */
int sl_otlp_batch_finish(sl_otlp_batch *b, sl_buf *out);
void sl_otlp_batch_free(sl_otlp_batch *b);

/* The format's halves (otlp_json.c, otlp_proto.c). */
int sl_otlp_json_span(sl_buf *out, const sl_otlp_span *s);
int sl_otlp_json_request(sl_buf *out, const sl_otlp_batch *b);
int sl_otlp_proto_span(sl_buf *out, sl_buf *scratch, const sl_otlp_span *s);
int sl_otlp_proto_request(sl_buf *out, const sl_otlp_batch *b);

/* Ring-layout attribute helpers (otlp_batch.c): the position after the
 * attribute at p (its array items included); 1 when one of the n - 1
 * attributes after it has the same key (the last one given wins). */
const char *sl_attr_skip(const char *p);
int sl_attr_shadowed(const char *p, uint32_t n);

/* ===== RECORDS -> SPAN VIEWS (otlp_spans.c) ===== */

typedef struct sl_otlp_spans sl_otlp_spans;

/* A span handed out: the view is valid only during the call. Return SL_OK
 * to go on, anything else to stop (returned by the feeding call). */
typedef int (*sl_otlp_span_fn)(void *ud, const sl_otlp_span *s);

sl_otlp_spans *sl_otlp_spans_new(sl_otlp_span_fn fn, void *ud);
/* One record (meta records set the service, host; the first one wins). */
int sl_otlp_spans_record(sl_otlp_spans *x, const sl_record *rec);
/* Whole JSONL or MessagePack records in memory (a sink's batch). */
int sl_otlp_spans_bytes(sl_otlp_spans *x, const char *data, size_t len);
/* Hands out the spans still open: with include_open as SL_OTLP_OPEN spans
 * ending at the last timestamp seen, else dropped (counted). */
int sl_otlp_spans_finish(sl_otlp_spans *x, int include_open);
/* The first meta record's service and host (NULL when none). */
const char *sl_otlp_spans_service(const sl_otlp_spans *x, size_t *len);
const char *sl_otlp_spans_host(const sl_otlp_spans *x, size_t *len);
/* Spans handed out, spans still open, open spans dropped at finish, bad records. */
void sl_otlp_spans_counts(const sl_otlp_spans *x, uint64_t *out_spans, uint64_t *open,
                          uint64_t *dropped_open, uint64_t *bad);
void sl_otlp_spans_free(sl_otlp_spans *x);

/* ===== EXPORTER (otlp_http.c) ===== */

typedef struct sl_otlp_exporter_opts {
    const char *url;             /* the full traces URL (http://HOST:4318/v1/traces) */
    const char *headers;         /* extra headers, "Name: value" lines ('\n'), or NULL */
    sl_otlp_format format;
    size_t batch_spans;          /* spans per request (default 512) */
    uint32_t batch_delay_ms;     /* max age of a span before its batch goes (default 1000) */
    size_t queue_spans;          /* spans held while undelivered (default 65536); more: dropped */
    uint32_t timeout_ms;         /* per request (default 10000) */
    uint32_t backoff_min_ms;     /* retry delays double from here (default 200) */
    uint32_t backoff_max_ms;     /* ... to here (default 5000); Retry-After is honoured up to 60 s */
} sl_otlp_exporter_opts;

typedef struct sl_otlp_exporter sl_otlp_exporter;

sl_otlp_exporter *sl_otlp_exporter_new(const sl_otlp_exporter_opts *o, sl_error *err);
/* Sets the resource of the requests from now on (copied). */
int sl_otlp_exporter_resource(sl_otlp_exporter *x, const char *service, size_t service_len,
                              const char *host, size_t host_len);
/* Queues one span (never blocks on the network): SL_OK, or SL_EAGAIN when
 * the queue is full (the span is dropped and counted). */
int sl_otlp_exporter_add(sl_otlp_exporter *x, const sl_otlp_span *s);
/* Sends what is pending now and waits until the queue is empty or
 * timeout_ms passed: SL_OK or SL_EAGAIN. */
int sl_otlp_exporter_drain(sl_otlp_exporter *x, uint32_t timeout_ms);
void sl_otlp_exporter_stats(sl_otlp_exporter *x, sl_export_stats *out);
/* Drains for up to timeout_ms, then stops; what is left is counted dropped. */
void sl_otlp_exporter_free(sl_otlp_exporter *x, uint32_t timeout_ms);

/* "otlp+http://HOST:PORT[/path]" or "http://..." -> the traces URL
 * (malloc'd; "/v1/traces" added when there is no path), or NULL. */
char *sl_otlp_url(const char *spec);

/* ===== RECORDS -> RING VIEWS (record_view.c) ===== */

/* Appends the attributes of a JSON object (a record's attrs text) to blob in
 * the ring layout; *n counts them. Nested objects become their JSON text
 * as a string, null becomes the string "null". SL_OK, SL_ENOMEM or SL_EPARSE. */
int sl_attrs_from_json(const char *json, size_t len, sl_buf *blob, uint32_t *n);
/* A read record (start, event, attr, end) as a ring view for the encoders;
 * blob holds its attributes (emptied first). SL_OK, SL_EINVAL (a meta
 * record), SL_EPARSE (attrs text that is no JSON object) or SL_ENOMEM. */
int sl_record_view(const sl_record *rec, sl_buf *blob, sl_rview *v);
/* A meta record for sl_jsonl_meta / sl_msgpack_meta (strings copied to text). */
int sl_record_meta(const sl_record *rec, sl_buf *text, sl_meta *m);

#endif
