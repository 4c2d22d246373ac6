/*
 * internal.h: what the write side's files share and the public header does
 * not say: the per-thread rings and the binary record layout in them, the
 * encoders' entry points, the sink, and the inlined clock and id generator
 * (the text primitives every file uses are in text.h).
 *
 * Key idea: a record in a ring is a fixed header followed by raw (already
 * length-limited) bytes; the encoders only ever see an sl_rview over it, so
 * the calling thread never escapes, validates or formats anything.
 */
#ifndef SL_INTERNAL_H
#define SL_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spanline.h"
#include "text.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>
#define SL_HAVE_TSC 1
#else
#define SL_HAVE_TSC 0
#endif

/* Internal globals: hidden, so position-independent code (both libraries
 * are built -fPIC) reaches them directly instead of through the GOT. */
#if defined(__GNUC__) || defined(__clang__)
#define SL_HIDDEN __attribute__((visibility("hidden")))
#else
#define SL_HIDDEN
#endif

/* ===== RING (ring.c: single producer, single consumer at a time) ===== */

typedef struct sl_ring {
    char *mem;
    uint64_t cap, mask;            /* cap: a power of two */
    _Atomic uint64_t head;         /* written by the producer */
    uint64_t head_local;           /* producer's copy of head */
    uint64_t tail_cache;           /* producer's last view of tail */
    uint64_t reserved_at;          /* producer: where the reserved record starts */
    /* The consumer stores tail after every record it encodes: on a cache
     * line of its own, 64 bytes from anything else, or the line would move
     * between the two threads' cores on every record of a drain. */
    char pad_before_tail[64];
    _Atomic uint64_t tail;         /* written by the consumer (drain mutex) */
    char pad_after_tail[64];
} sl_ring;

int sl_ring_init(sl_ring *r, size_t bytes);
void sl_ring_free(sl_ring *r);

#define SL_REC_PAD 255

/* Returns room for n bytes (n a multiple of 8, n <= cap/2) or NULL if full. */
static inline char *sl_ring_reserve(sl_ring *r, uint32_t n)
{
    uint64_t head = r->head_local;
    uint64_t off = head & r->mask;
    uint64_t till_end = r->cap - off;
    uint64_t need = n <= till_end ? n : n + till_end;
    if (head + need - r->tail_cache > r->cap) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head + need - r->tail_cache > r->cap) return NULL;
    }
    if (n > till_end) {
        /* the record must be contiguous: pad to the end and wrap */
        uint32_t pad = (uint32_t)till_end;
        memcpy(r->mem + off, &pad, 4);
        r->mem[off + 4] = (char)SL_REC_PAD;
        head += till_end;
        off = 0;
    }
    r->reserved_at = head;
    return r->mem + off;
}

/* Publishes the record reserved last; returns the bytes now in use. */
static inline uint64_t sl_ring_commit(sl_ring *r, uint32_t n)
{
    uint64_t head = r->reserved_at + n;
    r->head_local = head;
    atomic_store_explicit(&r->head, head, memory_order_release);
    return head - r->tail_cache;
}

/* ===== RECORDS IN A RING ===== */

#define SL_RF_HAS_PARENT 1u
#define SL_RF_PARENT_REMOTE 2u
#define SL_RF_TEXT_TRUNC 4u
#define SL_RF_SHORT 8u     /* an END with no error: the short header (sl_rshort) alone */

/* A record: this header, then for START with a parent (SL_RF_HAS_PARENT)
 * the trace and parent ids (32 bytes; a root span's trace is its id), then
 * text (name, or error for END), then nattrs attributes. Total size is a
 * multiple of 8. The first 8 bytes (size, type, status, flags) are the same
 * in both headers. */
typedef struct sl_rhdr {
    uint32_t size;
    uint8_t type;      /* sl_record_type or SL_REC_PAD */
    uint8_t status;    /* END */
    uint8_t flags;     /* SL_RF_* */
    uint8_t pad0;
    uint32_t lane;
    uint32_t nattrs;
    uint32_t text_len;
    uint32_t pad1;
    uint64_t ts;
    sl_id id;
} sl_rhdr;

/* The header of an END that says no more than its id, status and time
 * (nearly every end): 32 bytes instead of 48 in the ring. */
typedef struct sl_rshort {
    uint32_t size;
    uint8_t type;
    uint8_t status;
    uint8_t flags;     /* SL_RF_SHORT */
    uint8_t pad0;
    uint64_t ts;
    sl_id id;
} sl_rshort;

/* An attribute in a ring: this header, the key, then the value: string bytes
 * (len), 8 bytes of int64/double, nothing for a bool (len is the value), or
 * for an array len items, each with its own header and an empty key. */
typedef struct sl_ahdr {
    uint8_t type;
    uint8_t trunc;     /* string value was cut: the encoder marks it */
    uint16_t key_len;
    uint32_t len;
} sl_ahdr;

/* A decoded attribute (pointers into the ring). */
typedef struct sl_aview {
    int type;
    int trunc;
    const char *key;
    size_t key_len;
    const char *s;
    size_t len;        /* string length, bool value or array item count */
    int64_t i;
    double d;
} sl_aview;

/* Reads the attribute at p; returns the position after its header and value
 * (for an array: the position of its first item). */
static inline const char *sl_attr_read(const char *p, sl_aview *a)
{
    sl_ahdr h;
    memcpy(&h, p, sizeof h);
    p += sizeof h;
    a->type = h.type;
    a->trunc = h.trunc;
    a->key = p;
    a->key_len = h.key_len;
    p += h.key_len;
    a->len = h.len;
    a->s = p;
    a->i = 0;   /* only ints carry one; the compiler cannot see the type decide */
    switch (h.type) {
    case SL_ATTR_STRING: p += h.len; break;
    case SL_ATTR_INT: memcpy(&a->i, p, 8); p += 8; break;
    case SL_ATTR_DOUBLE: memcpy(&a->d, p, 8); p += 8; break;
    default: break;
    }
    return p;
}

/* A decoded record (pointers into the ring). */
typedef struct sl_rview {
    int type;
    int status;
    unsigned flags;
    uint32_t lane;
    uint64_t ts;
    sl_id id, trace, parent;
    const char *text;
    size_t text_len;
    const char *attrs;
    uint32_t nattrs;
    uint32_t attrs_size;   /* bytes from attrs to the record's end; 0: not known */
} sl_rview;

/* What an encoder needs to bound the encoding of a record's attributes. */
typedef struct sl_attrs_size {
    size_t values;      /* attributes, and the items of arrays */
    size_t key_bytes;
    size_t str_bytes;   /* string values and items */
} sl_attrs_size;

/* Walks the n attributes at p (an sl_rview's attrs); inline, for the
 * encoders run it on every record. */
static inline void sl_attrs_measure(const char *p, uint32_t n, sl_attrs_size *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < n; i++) {
        sl_aview a;
        p = sl_attr_read(p, &a);
        out->values++;
        out->key_bytes += a.key_len;
        if (a.type == SL_ATTR_STRING) out->str_bytes += a.len;
        if (a.type != SL_ATTR_ARRAY) continue;
        for (size_t j = 0; j < a.len; j++) {
            sl_aview it;
            p = sl_attr_read(p, &it);
            out->values++;
            if (it.type == SL_ATTR_STRING) out->str_bytes += it.len;
        }
    }
}

typedef struct sl_meta {
    int64_t pid;
    const char *service;   /* may be NULL */
    const char *host;
    uint64_t ts;
    uint64_t dropped;      /* records lost so far; 0: the key is omitted */
} sl_meta;

/* ===== ENCODERS (jsonl.c, msgpack.c) ===== */

/* Append one record (with its trailing '\n' for JSONL): SL_OK, SL_ENOMEM
 * (the buffer is left as it was) or SL_EINVAL (not a record). */
int sl_jsonl_encode(sl_buf *b, const sl_rview *v);
/* The same for the writer, from a record in a ring (it decodes it): *ts_cache
 * keeps the leading digits of the last timestamp (json.h). */
struct sl_json_ts_cache;
int sl_jsonl_encode_ring(sl_buf *b, const char *rec, struct sl_json_ts_cache *ts_cache);
int sl_jsonl_meta(sl_buf *b, const sl_meta *m);
int sl_msgpack_encode(sl_buf *b, const sl_rview *v);
int sl_msgpack_encode_ring(sl_buf *b, const char *rec);
int sl_msgpack_meta(sl_buf *b, const sl_meta *m);

/* ===== SINK (sink.c) ===== */

typedef struct sl_sink {
    sl_sink_kind kind;
    int fd;
    int owns_fd;
    int chunked;       /* not a regular file (pipe, socket, tty): whole records in writes of
                          at most PIPE_BUF bytes, each after poll() says there is room */
    int socket;        /* chunked and a socket: send(MSG_DONTWAIT | MSG_NOSIGNAL) */
    int torn;          /* a failed write cut a record: the next write starts a new line */
    _Atomic int no_room;  /* chunked: the last poll found no room (a reader not reading) */
    sl_write_fn write;
    void *ud;
    sl_buf mem;
    _Atomic uint64_t give_up_at;   /* monotonic ns: every wait ends here (an emergency
                                      flush takes over); 0: no such limit */
    sl_otlp *otlp;           /* SL_SINK_OTLP (otlp_sink.c) */
} sl_sink;

/* How long a write waits for room without progress (`patience`, ns). */
#define SL_WAIT_NONE 0
#define SL_WAIT_FOREVER UINT64_MAX

int sl_sink_open(sl_sink *s, const sl_config *cfg, sl_error *err);
/* Writes data; *written is the number of bytes that reached the sink. A
 * chunked sink writes at most PIPE_BUF bytes per system call and waits for
 * room before each, at most `patience` ns (and never past give_up_at), so
 * a reader that reads slowly is waited for and one that stopped is not.
 * Returns 0 or an errno value: EAGAIN when no room came in time. Never
 * raises SIGPIPE. */
int sl_sink_write(sl_sink *s, const char *data, size_t len, uint64_t patience, size_t *written);
void sl_sink_close(sl_sink *s);
/* The OTLP sink (otlp_sink.c); exit: deliver what was written (bounded wait). */
int sl_otlp_sink_open(sl_otlp **out, const sl_config *cfg, sl_error *err);
int sl_otlp_sink_write(sl_otlp *x, const char *data, size_t len);
void sl_otlp_sink_exit(sl_otlp *x);
void sl_otlp_sink_close(sl_otlp *x);
/* Set on the writer thread, which blocks SIGPIPE for good. */
extern SL_HIDDEN _Thread_local int sl_sink_sigpipe_blocked;
/* CLOCK_MONOTONIC in ns (deadlines; async-signal-safe). */
uint64_t sl_mono_ns(void);

/* ===== CLOCK AND IDS (clock.c, id.c) ===== */

/* Re-calibrates the TSC mapping (cheap unless ~0.5 s passed since the last
 * time); called from flush paths. */
void sl_clock_refine(void);
/* 1 when sl_clock_now reads the TSC. */
int sl_clock_uses_tsc(void);
#if SL_HAVE_TSC
/* The TSC -> ns mapping (clock.c): ns = base_ns + ((tsc - base_tsc) * mult
 * >> SL_CLK_MULT_SHIFT), published under the seqlock sl_clk_seq (odd while
 * it is being changed). */
#define SL_CLK_MULT_SHIFT 32
extern SL_HIDDEN _Atomic uint32_t sl_clk_seq;
extern SL_HIDDEN _Atomic uint64_t sl_clk_base_tsc, sl_clk_base_ns, sl_clk_mult;
extern SL_HIDDEN _Atomic int sl_clk_tsc_ready;

/* A TSC reading in ns since the epoch; never before the current base (a
 * core slightly behind the one that set it must not step back). */
static inline uint64_t sl_clock_tsc_to_ns(uint64_t tsc)
{
    for (;;) {
        uint32_t s1 = atomic_load_explicit(&sl_clk_seq, memory_order_acquire);
        uint64_t bt = atomic_load_explicit(&sl_clk_base_tsc, memory_order_relaxed);
        uint64_t bn = atomic_load_explicit(&sl_clk_base_ns, memory_order_relaxed);
        uint64_t m = atomic_load_explicit(&sl_clk_mult, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (s1 == atomic_load_explicit(&sl_clk_seq, memory_order_relaxed) && !(s1 & 1)) {
            if (tsc < bt) return bn;
            __extension__ unsigned __int128 p = (unsigned __int128)(tsc - bt) * m;
            return bn + (uint64_t)(p >> SL_CLK_MULT_SHIFT);
        }
    }
}

/* sl_clock_now with its TSC path inlined (the tracer's hot path). */
static inline uint64_t sl_clock_fast(void)
{
    if (__builtin_expect(atomic_load_explicit(&sl_clk_tsc_ready, memory_order_acquire), 1))
        return sl_clock_tsc_to_ns(__rdtsc());
    return sl_clock_now();
}
#else
static inline uint64_t sl_clock_fast(void)
{
    return sl_clock_now();
}
#endif

/* Bumped in every forked child. */
extern SL_HIDDEN _Atomic uint64_t sl_fork_epoch;

/* Seeds gen from getrandom (id.c). */
void sl_idgen_reseed(sl_idgen *gen);

static inline uint64_t sl_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static inline uint64_t sl_xoshiro_next(uint64_t s[4])
{
    uint64_t result = sl_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sl_rotl(s[3], 45);
    return result;
}

/* sl_idgen_next, inlined into the tracer's hot path. */
static inline void sl_idgen_next_fast(sl_idgen *gen, uint64_t now_ns, sl_id *out)
{
    if (!gen->deterministic &&
        gen->fork_epoch != atomic_load_explicit(&sl_fork_epoch, memory_order_relaxed))
        sl_idgen_reseed(gen);
    uint64_t ms = now_ns / 1000000u;
    uint64_t sub = ((now_ns - ms * 1000000u) << 12) / 1000000u;
    uint64_t t60 = ((ms & 0xFFFFFFFFFFFFull) << 12) | sub;
    if (t60 <= gen->last_time60) t60 = gen->last_time60 + 1;
    gen->last_time60 = t60;
    uint64_t hi = ((t60 >> 12) << 16) | 0x7000u | (t60 & 0xFFFu);
    uint64_t lo = (sl_xoshiro_next(gen->rng) >> 2) | 0x8000000000000000ull;
    /* big-endian, written whole: byte stores would stall the 16-byte load
     * that copies the id into the record right after */
    hi = __builtin_bswap64(hi);
    lo = __builtin_bswap64(lo);
#if defined(__SSE2__)
    _mm_storeu_si128((__m128i *)(void *)out->bytes, _mm_set_epi64x((long long)lo, (long long)hi));
#else
    memcpy(out->bytes, &hi, 8);
    memcpy(out->bytes + 8, &lo, 8);
#endif
}

#endif
