/*
 * spanline.h: the whole public C API of libspanline, a span tracer core.
 *
 * Key idea: the calling thread only copies fixed-layout binary records into
 * its own ring buffer (no malloc, no lock shared with other threads, no
 * encoding); a writer (a background thread, or the caller at flush points)
 * encodes them as JSONL or MessagePack and writes whole lines in batches.
 *
 * Conventions: functions return SL_OK (0) or a negative sl_code; functions
 * that return a pointer return NULL and fill an sl_error when one is given
 * (NULL: the caller wants no message). Nothing in the library aborts or
 * exits the host process.
 *
 * Strings are (pointer, length) pairs: they need not be NUL-terminated and
 * may hold any bytes (invalid UTF-8 is replaced by U+FFFD on output). The
 * exceptions take NUL-terminated strings and say so: the sl_config strings
 * and the convenience calls sl_span_start and sl_span_attr_*.
 *
 * Ownership: the library never keeps a caller's pointer past the call that
 * receives it, except where a comment says so (sl_reader_open_mem's data,
 * a span's caller-owned storage). Names, keys, values and config strings
 * are copied (or used) before the call returns; the caller may free or
 * reuse them right after.
 */
#ifndef SPANLINE_H
#define SPANLINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_VERSION "0.1.0"
#define SL_FORMAT_NAME "spanline/1"

/* ===== ERRORS ===== */

typedef enum sl_code {
    SL_OK = 0,
    SL_EINVAL = -1,   /* bad argument */
    SL_ENOMEM = -2,   /* allocation failed */
    SL_EIO = -3,      /* a system call failed; see sl_error.sys_errno */
    SL_ECLOSED = -4,  /* the tracer is closed */
    SL_ESTATE = -5,   /* the span already ended */
    SL_EPARSE = -6,   /* input could not be parsed */
    SL_EOF = -7,      /* reader: end of input */
    SL_EAGAIN = -8,   /* reader in follow mode: no complete record yet */
    SL_ETIMEDOUT = -9 /* the output had no room in time (a reader that stopped reading) */
} sl_code;

typedef struct sl_error {
    sl_code code;
    int sys_errno;      /* errno when code == SL_EIO, else 0 */
    char message[256];  /* human-readable reason, NUL-terminated */
} sl_error;

/* Static description of a code ("invalid argument", ...); any int is
 * accepted (unknown ones: "unknown error"). */
const char *sl_strerror(int code);

/* ===== IDS ===== */

/* A 128-bit id in UUIDv7 layout: 48-bit Unix ms, version 7, 12-bit sub-ms
 * fraction (bumped to stay monotonic), variant 0b10, 62 random bits. */
typedef struct sl_id {
    uint8_t bytes[16];
} sl_id;

int sl_id_is_zero(const sl_id *id);
/* 32 lowercase hex digits + NUL. */
void sl_id_to_hex(const sl_id *id, char out[33]);
/* Parses 32 hex digits (a full id) or 16 hex digits (a W3C span-id: stored
 * in bytes 8..15, bytes 0..7 zero). Returns SL_OK or SL_EPARSE (*out is
 * then unchanged). Hex is lowercase only, here and wherever the library
 * reads ids (streams, traceparent): 'A'..'F' are refused, as W3C
 * trace-context requires, and every spanline writer writes lowercase. */
int sl_id_from_hex(const char *hex, size_t len, sl_id *out);

/* An id generator. Not thread-safe: the tracer keeps one per thread. */
typedef struct sl_idgen {
    uint64_t last_time60;   /* last (ms << 12 | sub-ms) handed out */
    uint64_t rng[4];        /* xoshiro256** state */
    uint64_t fork_epoch;    /* reseed when the process forked since */
    int deterministic;      /* seeded by the caller: never reseeded */
} sl_idgen;

/* seed == 0: seed from getrandom() (reseeded after fork); otherwise a
 * deterministic stream (fuzzing, tests). */
void sl_idgen_init(sl_idgen *gen, uint64_t seed);
/* A new id for the Unix time now_ns. Ids from one generator sort in creation
 * order even if now_ns stands still or goes back: the 60-bit time field is
 * bumped, the random tail is always fresh. */
void sl_idgen_next(sl_idgen *gen, uint64_t now_ns, sl_id *out);

/* ===== CLOCK ===== */

/* Nanoseconds since the Unix epoch: a realtime anchor read once plus a
 * monotonic delta (TSC where invariant, else CLOCK_MONOTONIC), so durations
 * never go negative. Thread-safe. */
uint64_t sl_clock_now(void);

/* A clock the tracer calls instead of sl_clock_now (tests, fuzzing). */
typedef uint64_t (*sl_clock_fn)(void *ud);

/* ===== TRACE CONTEXT (W3C traceparent) ===== */

/* A reference to a span, possibly in another process. */
typedef struct sl_context {
    sl_id trace;
    sl_id span;         /* remote: only bytes 8..15 are known */
    uint8_t flags;      /* W3C trace-flags (bit 0: sampled) */
    uint8_t remote;     /* 1 when known only by a 16-hex W3C span-id */
} sl_context;

#define SL_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/* Parses a version-00 (or future-version) traceparent header value.
 * Rejects all-zero ids, bad hex, uppercase, wrong lengths. */
int sl_traceparent_parse(const char *s, size_t len, sl_context *out);
/* Writes 55 characters + NUL. */
void sl_traceparent_format(const sl_context *ctx, char out[SL_TRACEPARENT_LEN + 1]);

/* ===== JSON TEXT ===== */

/* The content of a JSON string from p (inside the quotes, after any run the
 * caller copied itself) to its closing quote, unescaped into out, which has
 * room for e - p bytes (the decoded form is never longer). RFC 8259:
 * \uXXXX in either case, a surrogate pair joined, a lone surrogate as
 * U+FFFD. Returns the byte after the closing quote and sets *out_end, or
 * NULL for a bad escape or a missing quote. The one JSON string decoder:
 * the stream readers and the Lua binding's attribute decoder use it. */
const char *sl_json_unescape(const char *p, const char *e, char *out, char **out_end);

/* The core's one JSON writer for callers outside it (the Lua binding),
 * so every JSON spanline writes has the same strings and numbers: s as a
 * quoted string literal (invalid UTF-8 as U+FFFD, '"', '\\' and control
 * characters escaped) into out, which has room for SL_JSON_QUOTE_BOUND(n)
 * bytes; d as the shortest of %.15g / %.17g that reads back the same (NaN
 * and the infinities as the strings "NaN", "Infinity", "-Infinity") into
 * SL_JSON_DOUBLE_BOUND bytes. Both return the end of what they wrote. */
#define SL_JSON_QUOTE_BOUND(n) (6 * (size_t)(n) + 2)
#define SL_JSON_DOUBLE_BOUND 48
char *sl_json_quote(char *out, const char *s, size_t n);
char *sl_json_double(char *out, double d);

/* ===== ATTRIBUTES ===== */

typedef enum sl_attr_type {
    SL_ATTR_STRING,
    SL_ATTR_INT,
    SL_ATTR_DOUBLE,   /* NaN/Inf are written as the strings "NaN", "Infinity", "-Infinity" */
    SL_ATTR_BOOL,
    SL_ATTR_ARRAY     /* a flat array: items are scalars (their keys are ignored) */
} sl_attr_type;

typedef struct sl_attr {
    const char *key;
    size_t key_len;
    sl_attr_type type;
    union {
        struct { const char *ptr; size_t len; } s;
        int64_t i;
        double d;
        int b;
        struct { const struct sl_attr *items; size_t n; } a;
    } v;
} sl_attr;

/* ===== TRACER ===== */

typedef enum sl_format { SL_JSONL = 0, SL_MSGPACK = 1 } sl_format;
typedef enum sl_flush_policy { SL_FLUSH_BATCH = 0, SL_FLUSH_ALWAYS = 1 } sl_flush_policy;
typedef enum sl_sink_kind {
    SL_SINK_PATH,      /* open(path, O_WRONLY|O_APPEND|O_CREAT, 0644) */
    SL_SINK_FD,        /* an fd the caller owns (not closed by the tracer) */
    SL_SINK_CALLBACK,  /* write(ud, bytes, len): whole records only */
    SL_SINK_MEMORY,    /* kept in memory: sl_tracer_memory() */
    SL_SINK_OTLP       /* path = "otlp+http://HOST:4318[/path]": spans POSTed to an
                          OpenTelemetry collector by a thread of the sink's own
                          (format must be SL_JSONL); see export_* below */
} sl_sink_kind;

/* Returns 0, or an errno value (counted as a write error). Receives whole
 * records, batched. Called only on threads that call into the tracer
 * (sl_tracer_open for the meta record, recording calls at flush points,
 * sl_tracer_flush, sl_tracer_close; never a library thread, never atexit),
 * one call at a time. It may record spans (they are kept for the next
 * flush) but must not close the tracer. */
typedef int (*sl_write_fn)(void *ud, const char *data, size_t len);

/* A limit of 0 means the default. */
typedef struct sl_limits {
    uint32_t max_attrs;      /* per record; extra attributes are dropped and counted (default 64) */
    uint32_t max_value_len;  /* bytes per string value; longer ones are cut and marked (default 4096) */
    uint32_t max_name_len;   /* bytes per span/event name and key (default 256) */
} sl_limits;

/* Strings here are NUL-terminated, read by sl_tracer_open and not kept:
 * path is opened there, service and host are copied. */
typedef struct sl_config {
    sl_sink_kind sink;
    const char *path;          /* SL_SINK_PATH */
    int fd;                    /* SL_SINK_FD */
    sl_write_fn write;         /* SL_SINK_CALLBACK */
    void *write_ud;            /* passed to write, never freed */
    sl_format format;
    sl_flush_policy flush;
    uint32_t flush_interval_ms;  /* batch: max age of buffered records (default 100) */
    size_t buffer_size;          /* per-thread ring, bytes (default 1 MiB) */
    int background;              /* -1: auto (a writer thread for path/fd sinks), 0: no, 1: yes;
                                    always 0 for callback/memory sinks and flush = always.
                                    Without a writer the recording threads flush when their
                                    ring is half full or a record is flush_interval_ms newer
                                    than the last flush. */
    int block_when_full;         /* when a thread's ring is full: -1 (default): the thread
                                    drains it itself, but never waits for room in a pipe,
                                    socket or terminal: when the reader is not reading, the
                                    record is dropped and counted (a stalled reader never
                                    stops the program; a regular file, callback or memory
                                    has no reader to wait for); 0: always drop and count;
                                    1: always wait, even for a stalled reader. Dropped
                                    records are reported in the stream (a meta record with
                                    "dropped") once it can be written again. */
    uint32_t close_timeout_ms;   /* close, exit and flush give up on an output that took
                                    nothing for this long (a reader that stopped reading;
                                    one that reads slowly is waited for); close and exit
                                    drop the rest (default 1000) */
    size_t recorder_size;        /* > 0: flight recorder: records are kept in this many
                                    bytes of memory (the oldest whole records overwritten)
                                    and written to the sink only by sl_tracer_dump, SIGUSR1
                                    or the crash handler. Needs a path or fd sink. */
    const char *service;         /* meta record; NULL: omitted */
    const char *host;            /* meta record; NULL: gethostname() */
    int write_meta;              /* 1 (default): first record is the meta record */
    sl_limits limits;
    sl_clock_fn clock;           /* NULL: sl_clock_now */
    void *clock_ud;              /* passed to clock, never freed */
    uint64_t seed;               /* 0: random ids; else deterministic ids */
    const char *export_headers;  /* SL_SINK_OTLP: "Name: value" lines ('\n'); NULL: from
                                    OTEL_EXPORTER_OTLP_(TRACES_)HEADERS ("k=v,k2=v2") */
    int export_json;             /* SL_SINK_OTLP: 1: OTLP/HTTP JSON; 0: protobuf, unless
                                    OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is "http/json" */
} sl_config;

typedef struct sl_tracer sl_tracer;

/* Fills every field with its default (sink: SL_SINK_FD on fd 2). */
void sl_config_init(sl_config *cfg);

/* Path/fd tracers still open at exit are flushed by an atexit handler. In a
 * forked child the tracer drops what the parent had buffered (the parent
 * writes it), writes a meta record with the child's pid, and flushes from
 * the calling thread from then on. */
sl_tracer *sl_tracer_open(const sl_config *cfg, sl_error *err);
/* Writes every record recorded so far (by any thread) to the sink.
 * Returns SL_EIO when a write failed since the last flush (with any flush
 * policy; the errno is in sl_stats.last_errno), SL_ETIMEDOUT when the
 * output took nothing for close_timeout_ms (the records stay buffered; with
 * block_when_full = 1 it waits as long as it takes). */
int sl_tracer_flush(sl_tracer *t);
/* Ends every open span as "abandoned", flushes (giving up on an output
 * that takes nothing for close_timeout_ms), closes the sink, frees the
 * tracer. Safe to call once; the pointer is invalid afterwards. Returns
 * SL_OK, SL_EIO (a write failed since the last flush) or SL_ETIMEDOUT. */
int sl_tracer_close(sl_tracer *t);
/* Flight recorder: writes the records it holds, after a meta record, to
 * path (created or truncated) or, when path is NULL, to the tracer's sink,
 * and empties it, so two dumps never repeat a record. SL_EINVAL when the
 * tracer has no recorder. */
int sl_tracer_dump(sl_tracer *t, const char *path);

typedef struct sl_stats {
    uint64_t records;        /* records written to the sink */
    uint64_t bytes;          /* bytes written to the sink */
    uint64_t dropped;        /* records lost (ring full with block_when_full = 0, or write errors) */
    uint64_t write_errors;   /* failed writes */
    int last_errno;          /* errno of the last failed write */
    uint64_t spans_started;
    uint64_t spans_ended;    /* every end, abandoned ones included */
    uint64_t spans_open;
    uint64_t abandoned;
    uint64_t truncated;      /* values or names cut, attributes dropped by limits */
    uint64_t overwritten;    /* flight recorder: oldest records overwritten by newer ones */
} sl_stats;

void sl_tracer_stats(sl_tracer *t, sl_stats *out);
/* sl_tracer_close, filling *final (when not NULL) with the counters as they
 * stand after the last write: what made it, what was lost. */
int sl_tracer_close_stats(sl_tracer *t, sl_stats *final);

/* What an OTLP exporter did so far: an SL_SINK_OTLP tracer's, or an sl_otlp's. */
typedef struct sl_export_stats {
    uint64_t spans;           /* spans exported (encoded) so far */
    uint64_t spans_sent;      /* accepted by the collector (2xx) */
    uint64_t spans_dropped;   /* queue full, refused for good (4xx), or undelivered at close */
    uint64_t spans_queued;    /* waiting to be sent */
    uint64_t requests;        /* POSTs made */
    uint64_t retries;         /* of those, answered 429/5xx or failed in transport */
    int last_status;          /* HTTP status of the last POST; -1: transport error; 0: none */
    uint64_t open_dropped;    /* spans still open at the end, left out (include_open = 0) */
    uint64_t bad;             /* records that could not be used (unreadable attributes, no start) */
    uint64_t spans_rejected;  /* accepted requests' spans the collector said it rejected
                                 (OTLP partial success); not counted in spans_sent */
} sl_export_stats;

/* SL_OK, or SL_EINVAL when t has no OTLP sink. */
int sl_tracer_export_stats(sl_tracer *t, sl_export_stats *out);

/* SL_SINK_MEMORY: the bytes written so far, after flushing (valid until the
 * next call that records or flushes), followed by a NUL (not counted in
 * *len), so string functions may scan them. */
const char *sl_tracer_memory(sl_tracer *t, size_t *len);
void sl_tracer_memory_clear(sl_tracer *t);

/* ===== FAULTS (crash.c) =====
 * What a dying process can still write. These handlers are opt-in: nothing
 * in the library changes a signal disposition unless asked (the flight
 * recorder's SIGUSR1 aside, and only when SIGUSR1 has its default action). */

/* Writes what every open path/fd tracer has buffered (and its flight
 * recorder), then, when abandon is set, an "abandoned" end record for every
 * open span. Async-signal-safe: no malloc, no lock that a signalled thread
 * may hold (it claims each tracer's drain with an atomic flag, waits at most
 * 0.5 s for a writer thread in the middle of a batch, and skips a span list
 * whose spinlock stays taken), records are encoded into a static buffer.
 * One call at a time; a second concurrent call returns at once. Returns the
 * number of records written. */
uint64_t sl_emergency_flush(int abandon);
/* Installs handlers for SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL that
 * call sl_emergency_flush(1), restore the previous disposition and raise
 * the signal again (the default action: the process dies as it would have,
 * with its core dump). SL_OK or SL_EIO. */
int sl_crash_handler_install(void);
/* The same for one signal meant to end the process (SIGTERM, SIGHUP,
 * SIGINT...): on delivery, sl_emergency_flush(1), the previous disposition
 * back, the signal raised again. */
int sl_signal_flush_install(int signo);

/* ===== SPANS =====
 * Recording calls return SL_OK even when their record is dropped (ring full
 * with block_when_full = 0, out of memory): drops are counted in
 * sl_stats.dropped, and the span itself stays valid. */

typedef enum sl_span_status {
    SL_STATUS_OK = 0,
    SL_STATUS_ERROR = 1,
    SL_STATUS_ABANDONED = 2
} sl_span_status;

/* A span. The storage is the caller's (stack, struct, Lua userdata) and must
 * stay put until the span ends; the tracer links open spans through it so
 * sl_tracer_close can end them. Fields are readable; write none of them. */
typedef struct sl_span {
    sl_tracer *tracer;
    sl_id id;
    sl_id trace;
    sl_context parent;       /* parent.trace zero: a root span */
    uint64_t start_ns;
    uint32_t lane;
    uint32_t flags;          /* SL_SPAN_* */
    struct sl_span *open_prev, *open_next;  /* private */
    void *owner;                            /* private */
} sl_span;

#define SL_SPAN_OPEN 1u
#define SL_SPAN_HAS_PARENT 2u
#define SL_SPAN_ALLOCATED 4u   /* from sl_span_start: freed by sl_span_end */

typedef struct sl_start_opts {
    const sl_context *parent;  /* NULL: a root span (a new trace) */
    uint32_t lane;             /* 0: the calling thread's lane (1, 2, ... in the order threads
                                  first record through this tracer; a thread that exited
                                  hands its lane on to the next new one) */
    const sl_attr *attrs;      /* copied (within sl_limits) before sl_span_begin returns */
    size_t nattrs;
    uint64_t ts;               /* 0: now */
    const sl_id *id;  /* NULL: a new id; else use this id (the caller drew it, e.g. to decide sampling from its tail) */
} sl_start_opts;

/* Starts a span in caller storage (which must not hold an open span) and
 * writes its start record. A span may be ended from any thread. If it fails,
 * the span is not open (sl_span_end on it returns SL_ESTATE). */
int sl_span_begin(sl_tracer *t, sl_span *span, const char *name, size_t name_len,
                  const sl_start_opts *opts);
/* Draws the next span id from the calling thread's generator of t (the one
 * sl_span_begin uses, so ids stay in creation order) and the timestamp it
 * drew it for (pass both in sl_start_opts). SL_OK, SL_EINVAL, SL_ECLOSED
 * (t is closed) or SL_ENOMEM; on failure *out is the zero id and *ts 0. */
int sl_tracer_next_id(sl_tracer *t, sl_id *out, uint64_t *ts);
/* Convenience: a heap span (freed by sl_span_end) named by a NUL-terminated
 * name; parent may be NULL (a root span). NULL when it cannot start (no
 * tracer or name: SL_EINVAL, closed: SL_ECLOSED, SL_ENOMEM), with the
 * reason in *err when err is not NULL. */
sl_span *sl_span_start(sl_tracer *t, const char *name, const sl_span *parent, sl_error *err);

/* The context a child span or a traceparent header refers to. */
void sl_span_context(const sl_span *span, sl_context *out);

/* Recording calls copy names, keys and values (within sl_limits) before they
 * return. The sl_span_attr_* conveniences take NUL-terminated keys and
 * values. */
int sl_span_attrs(sl_span *span, const sl_attr *attrs, size_t n);
int sl_span_attr_str(sl_span *span, const char *key, const char *value);
int sl_span_attr_int(sl_span *span, const char *key, int64_t value);
int sl_span_attr_double(sl_span *span, const char *key, double value);
int sl_span_attr_bool(sl_span *span, const char *key, int value);
int sl_span_event(sl_span *span, const char *name, size_t name_len,
                  const sl_attr *attrs, size_t n);
/* Ends the span: status, and an error message (may be NULL). Ending twice
 * returns SL_ESTATE and writes nothing. */
int sl_span_end(sl_span *span, sl_span_status status, const char *error, size_t error_len);

/* ===== READER ===== */

typedef enum sl_record_type {
    SL_REC_META = 0,
    SL_REC_START = 1,
    SL_REC_EVENT = 2,
    SL_REC_ATTR = 3,
    SL_REC_END = 4
} sl_record_type;

/* One decoded record. Pointers stay valid until the next sl_reader_next. */
typedef struct sl_record {
    sl_record_type type;
    sl_id id;
    sl_id trace;               /* zero when absent */
    sl_id parent;              /* zero when absent */
    uint8_t has_trace, has_parent;
    uint8_t parent_short;      /* parent given as 16 hex digits (remote W3C span-id) */
    uint64_t ts;               /* 0 when absent */
    int64_t lane;              /* 0 when absent */
    const char *name; size_t name_len;       /* start/event */
    const char *status; size_t status_len;   /* end: "ok" | "error" | "abandoned" */
    const char *error; size_t error_len;     /* end, when status is error */
    const char *attrs_json; size_t attrs_len; /* attrs as a JSON object text, or NULL */
    const char *raw; size_t raw_len;         /* the record as read (JSONL line without '\n', or msgpack bytes) */
    uint8_t raw_spanline;      /* raw is a spanline/1 JSONL line (not js-logger, not msgpack) */
    uint64_t line;             /* 1-based line (JSONL) or record number (msgpack) */
    /* meta */
    int64_t pid;
    const char *service; size_t service_len;
    const char *host; size_t host_len;
    const char *format; size_t format_len;
    uint64_t dropped;          /* records the writer had lost when it wrote this meta (0: none said) */
} sl_record;

typedef struct sl_reader sl_reader;

typedef struct sl_reader_opts {
    int follow;                /* keep waiting for data at EOF (SL_EAGAIN), survive truncation/rotation */
    size_t max_line;           /* longer lines are skipped and counted (default 16 MiB) */
    size_t max_garbage;        /* this many bytes in a row without a record (bad, blank or
                                  over-long lines) end the read with SL_EPARSE: the input is
                                  not a span stream (/dev/zero, a binary file) (default 64 MiB) */
} sl_reader_opts;

sl_reader *sl_reader_open_path(const char *path, const sl_reader_opts *opts, sl_error *err);
sl_reader *sl_reader_open_fd(int fd, const sl_reader_opts *opts, sl_error *err);
/* Reads from memory (the bytes are not copied: keep them alive). */
sl_reader *sl_reader_open_mem(const char *data, size_t len, const sl_reader_opts *opts, sl_error *err);
/* SL_OK with *out filled, SL_EOF, or SL_EAGAIN (follow mode), or SL_EIO,
 * or SL_EPARSE (max_garbage bytes without a record). */
int sl_reader_next(sl_reader *r, sl_record *out);
/* Why the last sl_reader_next failed (SL_EIO, SL_EPARSE), or NULL. */
const char *sl_reader_error(const sl_reader *r);
/* Writes rec as one spanline/1 JSONL line, '\n' included, into buf (cap
 * bytes) and returns its length; like snprintf, a result > cap means it did
 * not fit (call again with a bigger buffer). 0: out of memory. */
size_t sl_record_jsonl(const sl_record *rec, char *buf, size_t cap);
/* Lines skipped so far, and the line numbers of the first ones (up to cap). */
uint64_t sl_reader_bad_lines(const sl_reader *r, uint64_t *lines, size_t cap);
/* Bytes consumed so far. */
uint64_t sl_reader_offset(const sl_reader *r);
void sl_reader_close(sl_reader *r);

/* ===== ASSEMBLER =====
 * Records -> spans, in any arrival order, from any reader (or records built
 * by hand): the one place where spans are rebuilt from records.
 *
 * A span is known by a ref (a small integer) while the assembler keeps it.
 * A child links under its parent when both are known; a child whose parent
 * has not been seen is an orphan and is re-parented when that parent starts
 * (a parent given as 16 hex digits, a W3C span-id, matches the last 16 hex
 * digits of a known id). A link that would close a parent cycle is refused:
 * the span stays an orphan, flagged SL_ASPAN_CYCLE and counted. Self time =
 * duration minus the union of the children's intervals clipped to the span
 * (a child still open counts up to the span's end). A span without a trace
 * id in its records takes its parent's (js-logger input); an orphan without
 * one takes its parent's id (or its own, when the parent is remote).
 *
 * Three modes, one engine:
 * - SL_ASM_STREAM: sl_assembler_next hands out each span once it ended (end
 *   order; spans still open come out at sl_assembler_finish, by start), then
 *   forgets it. Memory: the open spans, plus ended spans that children not
 *   yet handed out still refer to ("ghosts": a child starting after its
 *   parent ended links to it while the parent is a ghost, and is an orphan
 *   once the parent and every child it had were handed out).
 * - SL_ASM_TRACES: sl_assembler_next_trace hands out a whole trace (spans
 *   grouped by trace id) once none of its spans is open or lacks its start
 *   or end, and none waits for a parent id not seen yet; then forgets it.
 *   Memory: the traces still open (bounded by the largest trace when traces
 *   follow each other). Spans of a trace that arrive after it was handed
 *   out come out later as a trace of their own with the same id (their
 *   parent, forgotten, makes them orphans). sl_assembler_finish hands out
 *   what is left. Traces come out in the order they complete.
 * - SL_ASM_KEEP: every span is kept (the viewer, follow mode); read it with
 *   the accessors at any time, keep adding records.
 *
 * Ownership: the assembler copies what it keeps from each record (the
 * record and its strings may go away after sl_assembler_add returns).
 * Pointers in an sl_aspan, sl_atrace or from the accessors point into the
 * assembler: they stay valid until the next sl_assembler_add, _next,
 * _next_trace, _finish or _free. Refs stay valid as long as the span is
 * kept: for ever in KEEP mode; in STREAM mode until the next
 * sl_assembler_next after it was handed out; in TRACES mode until the
 * next sl_assembler_next_trace after its trace was handed out.
 * Not thread-safe: one assembler per thread (or a lock around it). */

typedef struct sl_assembler sl_assembler;

typedef enum sl_asm_mode {
    SL_ASM_STREAM = 0,
    SL_ASM_TRACES = 1,
    SL_ASM_KEEP = 2
} sl_asm_mode;

typedef struct sl_assembler_opts {
    sl_asm_mode mode;
    int keep_raw;      /* keep each span's records as spanline/1 JSONL lines
                          (passed through when the record's raw_spanline is set,
                          else re-encoded): sl_assembler_raw */
    int skip_attrs;    /* do not keep attrs text (nobody will read it) */
    int skip_events;   /* do not keep events */
    int select_pid;    /* keep only the records of process pid (a stream several
                          processes wrote): a start record belongs to the process
                          of the meta record last before it, any other record to
                          its span's; the others are not applied (nor counted) */
    int64_t pid;
} sl_assembler_opts;

#define SL_NO_SPAN UINT32_MAX

/* sl_aspan.flags */
#define SL_ASPAN_STARTED 0x1u       /* its start record was seen */
#define SL_ASPAN_ENDED 0x2u         /* its end record was seen */
#define SL_ASPAN_HAS_PARENT 0x4u    /* its start record names a parent */
#define SL_ASPAN_REMOTE_PARENT 0x8u /* ... as 16 hex digits (W3C span-id) */
#define SL_ASPAN_ORPHAN 0x10u       /* names a parent that is not linked */
#define SL_ASPAN_CYCLE 0x20u        /* its parent link was refused: it closed a cycle */
#define SL_ASPAN_DUPLICATE 0x40u    /* a second start or end record came for its id */

/* One assembled span, as sl_assembler_get fills it. */
typedef struct sl_aspan {
    uint32_t ref;
    uint32_t flags;            /* SL_ASPAN_* */
    sl_id id;
    sl_id trace;
    sl_id parent;              /* as given; REMOTE_PARENT: only bytes 8..15 */
    uint64_t start, finish;    /* 0 without a start / end record */
    int64_t self;              /* valid when STARTED and ENDED (else -1) */
    int64_t lane;
    uint64_t line;             /* record number of its start record */
    uint32_t depth;            /* 0 for a root or an orphan */
    uint32_t nchildren;        /* children linked and kept (see sl_assembler_children) */
    uint32_t nevents;
    uint32_t name_id;          /* KEEP: equal names, equal ids (else SL_NO_SPAN) */
    uint32_t parent_ref;       /* the linked parent, or SL_NO_SPAN */
    uint32_t trace_ref;        /* its trace (sl_assembler_trace), or SL_NO_SPAN */
    uint32_t pending_children; /* STREAM: linked children not handed out yet; the
                                  span stays known (a ghost) until they are */
    int parent_released;       /* STREAM: this hand-out was the parent ghost's last
                                  pending child: the parent is forgotten now */
    const char *name; size_t name_len;      /* NULL without a start record */
    const char *status; size_t status_len;  /* "open" until its end record */
    const char *error; size_t error_len;    /* NULL when none */
} sl_aspan;

/* One trace: spans grouped by trace id. */
typedef struct sl_atrace {
    uint32_t ref;
    sl_id id;
    uint32_t nspans, nopen, nerrors, nabandoned;   /* open: not ended */
    uint64_t start, finish;            /* first start, last end (or start); 0 when none */
    const uint32_t *roots;             /* TRACES: spans without a parent in this trace, by start */
    size_t nroots;
} sl_atrace;

typedef struct sl_asm_stats {
    uint64_t records;      /* records added (meta records included) */
    uint64_t metas;        /* of those, meta records */
    uint64_t spans;        /* spans kept now */
    uint64_t open;         /* of those, not ended */
    uint64_t errors;       /* of those, status "error" */
    uint64_t abandoned;    /* of those, status "abandoned" */
    uint64_t traces;       /* traces kept now */
    uint64_t cycles;       /* parent links refused (they closed a cycle), so far */
    uint64_t duplicates;   /* second start or end records for one id, so far */
    uint64_t min_ts, max_ts;  /* over every record with a timestamp (0: none) */
    uint64_t min_start;       /* the earliest start of any span so far (0: none) */
    uint64_t ends_only;    /* STREAM: spans handed out without a start record (they
                              started before the stream begins: an end record, or
                              only events or attributes of a span still open), so far */
} sl_asm_stats;

sl_assembler *sl_assembler_new(const sl_assembler_opts *opts, sl_error *err);
void sl_assembler_free(sl_assembler *a);

/* Applies one record. SL_OK, or SL_ENOMEM (the record is lost, the
 * assembler stays usable), SL_EINVAL (NULL arguments), SL_ESTATE (after
 * sl_assembler_finish in STREAM or TRACES mode). */
int sl_assembler_add(sl_assembler *a, const sl_record *rec);
/* The span the last sl_assembler_add touched, or SL_NO_SPAN (meta record). */
uint32_t sl_assembler_last(const sl_assembler *a);
/* End of input: STREAM and TRACES hand out what is left. */
int sl_assembler_finish(sl_assembler *a);

/* STREAM: the next span handed out: SL_OK, SL_EAGAIN (add more records),
 * or SL_EOF (finished and nothing left). Other modes: SL_EINVAL. */
int sl_assembler_next(sl_assembler *a, sl_aspan *out);
/* STREAM, TRACES: how many spans (traces) wait to be handed out (a trace
 * queued may turn out incomplete when taken). */
size_t sl_assembler_ready(const sl_assembler *a);
/* TRACES: the next whole trace (read its spans with the accessors from
 * out->roots): SL_OK, SL_EAGAIN, SL_EOF. Other modes: SL_EINVAL. */
int sl_assembler_next_trace(sl_assembler *a, sl_atrace *out);

/* ----- accessors ----- */

/* SL_OK, or SL_EINVAL for a ref the assembler does not keep. */
int sl_assembler_get(const sl_assembler *a, uint32_t ref, sl_aspan *out);
/* The span with this id (32 hex digits' worth), or SL_NO_SPAN. */
uint32_t sl_assembler_find(const sl_assembler *a, const sl_id *id);
/* Up to cap children refs, by start (then id); returns how many there are.
 * TRACES: only the children in the same trace. */
size_t sl_assembler_children(sl_assembler *a, uint32_t ref, uint32_t *out, size_t cap);
/* KEEP: the spans without a linked parent (roots and orphans), in arrival
 * order; valid until the next add. Other modes: 0. */
size_t sl_assembler_roots(sl_assembler *a, const uint32_t **out);
/* A span's attributes as JSON object texts, one per call (its start record's
 * first, then its attr records', in order; later keys win): *pos starts at
 * 0; returns 1 with json and len set, 0 after the last. */
int sl_assembler_attrs_next(const sl_assembler *a, uint32_t ref, size_t *pos,
                            const char **json, size_t *len);

typedef struct sl_aevent {
    uint64_t ts;
    const char *name; size_t name_len;
    const char *attrs_json; size_t attrs_len;   /* NULL when none */
} sl_aevent;

/* A span's events in arrival order, one per call, like attrs_next. */
int sl_assembler_event_next(const sl_assembler *a, uint32_t ref, size_t *pos, sl_aevent *out);
/* keep_raw: a span's records as spanline/1 JSONL lines, one per call
 * (each with its '\n'), like attrs_next. */
int sl_assembler_raw_next(const sl_assembler *a, uint32_t ref, size_t *pos,
                          const char **line, size_t *len);
/* ----- KEEP mode: what a live view (the terminal viewer) reads ----- */

/* With on, every span an add touches is remembered (once) until handed out
 * by sl_assembler_changes. */
void sl_assembler_track(sl_assembler *a, int on);
/* The spans touched since the last call (valid until the next add); the
 * list starts afresh. */
size_t sl_assembler_changes(sl_assembler *a, const uint32_t **refs);
/* Every started span, by start (then id): brought up to date with the
 * spans added since the last call (appended, or sorted again when one
 * starts before the last); valid until the next add. *resorted (may be
 * NULL) tells whether the order of spans already listed changed. */
size_t sl_assembler_by_start(sl_assembler *a, const uint32_t **refs, int *resorted);
/* The spans whose name contains term (ASCII letters in any case), in the
 * order of refs[0..n) (tree = 0) or of the trees under the roots
 * refs[0..n) (tree = 1: depth first, children by start). *before: how many
 * matches come before span cur in that order (SIZE_MAX when cur is not in
 * it). The result is valid until the next call that changes the assembler
 * or searches. */
size_t sl_assembler_search(sl_assembler *a, const uint32_t *refs, size_t n, int tree,
                           const char *term, size_t len, uint32_t cur,
                           const uint32_t **out, size_t *before);

/* A trace by ref (sl_aspan.trace_ref): id, counts and time range (roots are
 * only set by sl_assembler_next_trace). SL_EINVAL for a ref no trace has
 * now, SL_EOF past the last ref (so refs 0, 1, ... walk every trace). */
int sl_assembler_trace(const sl_assembler *a, uint32_t ref, sl_atrace *out);
/* The first meta record kept (with select_pid: that process's) as a
 * spanline/1 JSONL line (without '\n'), or NULL. */
const char *sl_assembler_meta(const sl_assembler *a, size_t *len);
/* The distinct pids of the meta records seen, in order (the first 1000;
 * *more tells whether there were others). */
size_t sl_assembler_pids(const sl_assembler *a, const int64_t **pids, int *more);
void sl_assembler_stats(const sl_assembler *a, sl_asm_stats *out);

/* ===== OTLP EXPORT =====
 * Records -> OpenTelemetry spans (the core's assembler, streaming: a span
 * goes when it ends) -> ExportTraceServiceRequests, protobuf or OTLP/HTTP
 * JSON, either kept for the caller (files) or POSTed to a collector by a
 * thread of the sl_otlp's own (batches bounded in spans and age; retries
 * with exponential backoff on 429, 5xx and transport errors, Retry-After
 * honoured; at most queue_spans held, past that new spans are dropped and
 * counted). Span ids map as design.md §2 says (trace-id = trace id, span-id
 * = the id's last 8 bytes); service.name and host.name come from the first
 * meta record; status "error" is code 2 with its message; abandoned and
 * open spans carry spanline.abandoned / spanline.open = true; the lane is
 * spanline.lane. */

typedef struct sl_otlp sl_otlp;

typedef struct sl_otlp_opts {
    int json;                  /* 1: OTLP/HTTP JSON; 0: protobuf */
    int include_open;          /* at finish, spans still open go out, ended at the last
                                  timestamp seen (else they are left out, counted) */
    const char *service;       /* service.name when the stream's meta record names none */
    size_t batch_spans;        /* spans per request (default 512) */
    const char *endpoint;      /* NULL: requests are kept for sl_otlp_output; else the
                                  collector ("http://HOST:4318" or "otlp+http://...";
                                  /v1/traces added when no path is given) */
    const char *headers;       /* endpoint: extra "Name: value" lines ('\n'), or NULL */
    size_t queue_spans;        /* endpoint: spans held undelivered (default 65536) */
    uint32_t batch_delay_ms;   /* endpoint: max age of a batch's first span (default 1000) */
    uint32_t timeout_ms;       /* endpoint: per request (default 10000) */
} sl_otlp_opts;

sl_otlp *sl_otlp_open(const sl_otlp_opts *o, sl_error *err);
/* One record / whole records in memory (JSONL or MessagePack). SL_OK,
 * SL_ENOMEM, SL_ESTATE (after finish). Never blocks on the network. */
int sl_otlp_record(sl_otlp *x, const sl_record *rec);
int sl_otlp_bytes(sl_otlp *x, const char *data, size_t len);
/* End of input: the spans still open go out (include_open) or are counted. */
int sl_otlp_finish(sl_otlp *x);
/* No endpoint: the requests finished so far, then forgotten: valid until the
 * next call on x. JSON requests end with '\n' (one per line); protobuf ones
 * are back to back (concatenated messages read as one). NULL when none. */
const char *sl_otlp_output(sl_otlp *x, size_t *len);
/* Endpoint: sends what is pending and waits until nothing is queued or
 * timeout_ms passed: SL_OK or SL_EAGAIN. */
int sl_otlp_drain(sl_otlp *x, uint32_t timeout_ms);
void sl_otlp_stats(sl_otlp *x, sl_export_stats *out);
/* Endpoint: drains up to timeout_ms first; what is left is dropped. */
void sl_otlp_close(sl_otlp *x, uint32_t timeout_ms);

/* ===== RE-ENCODING =====
 * Read records written again by the tracer's own encoders (JSONL or
 * MessagePack), so a conversion keeps every value and its type: JSONL ->
 * MessagePack -> JSONL gives back the tracer's bytes. */

typedef struct sl_recoder sl_recoder;

sl_recoder *sl_recoder_open(sl_format format, sl_error *err);
/* SL_OK, SL_EPARSE (attributes that are not a JSON object: skipped) or SL_ENOMEM. */
int sl_recoder_record(sl_recoder *rc, const sl_record *rec);
/* The bytes encoded since the last call (valid until the next call on rc). */
const char *sl_recoder_output(sl_recoder *rc, size_t *len);
void sl_recoder_close(sl_recoder *rc);

#ifdef __cplusplus
}
#endif

#endif /* SPANLINE_H */
