/*
 * ring_rec.h: the one reader of the ring layout (internal.h): a record as
 * the writer's encoders (jsonl.c, msgpack.c) read it, in place, its ids as
 * pointers into the record; and, from that, the copied sl_rview the crash
 * path keeps.
 *
 * Key idea: copying the header and the three ids cost the writer more than
 * the rest of decoding a record; an sl_rrec is the same fields loaded one
 * by one where the record lies. One made from an sl_rview (the crash path,
 * the recoder) points into the view instead, so both are encoded by the
 * same code.
 */
#ifndef SL_RING_REC_H
#define SL_RING_REC_H

#include <stddef.h>

#include "internal.h"

/* A record in the ring layout (internal.h), its ids as pointers. */
typedef struct sl_rrec {
    int type, status;
    unsigned flags;
    uint32_t lane;
    uint64_t ts;
    const sl_id *id, *trace, *parent;
    const char *text;
    size_t text_len;
    const char *attrs;
    uint32_t nattrs, attrs_size;
    int in_ring;   /* the text is in the record: sl_json_str_rec may read before it */
    uint32_t size; /* in_ring: the record's bytes */
} sl_rrec;

static inline __attribute__((always_inline)) sl_rrec sl_rrec_of_view(const sl_rview *v)
{
    return (sl_rrec){v->type, v->status, v->flags, v->lane, v->ts, &v->id, &v->trace, &v->parent,
                     v->text, v->text_len, v->attrs, v->nattrs, v->attrs_size, 0, 0};
}

#define SL_RHDR_FIELD(rec, hdr, field, out) memcpy(&(out), (rec) + offsetof(hdr, field), sizeof(out))

#define SL_RREC_ID(p) ((const sl_id *)(const void *)(p))

/* Whether the record at rec has the short header (sl_rshort: a plain end). */
static inline int sl_rrec_is_short(const char *rec)
{
    return ((uint8_t)rec[offsetof(sl_rhdr, flags)] & SL_RF_SHORT) != 0;
}

/* The records at rec, in place: sl_rview_decode without the copies. An
 * encoder calls the one sl_rrec_is_short picks, so that each inlined copy
 * of it knows its record's shape (a short one is an END with no text and no
 * attributes). */
static inline __attribute__((always_inline)) sl_rrec sl_rrec_short_at(const char *rec)
{
    uint32_t size;
    uint8_t status, flags;
    uint64_t ts;
    SL_RHDR_FIELD(rec, sl_rshort, size, size);
    SL_RHDR_FIELD(rec, sl_rshort, status, status);
    SL_RHDR_FIELD(rec, sl_rshort, flags, flags);
    SL_RHDR_FIELD(rec, sl_rshort, ts, ts);
    const char *end = rec + sizeof(sl_rshort);
    const sl_id *id = SL_RREC_ID(rec + offsetof(sl_rshort, id));
    return (sl_rrec){SL_REC_END, status, flags & ~SL_RF_SHORT, 0, ts, id, id, id,
                     end, 0, end, 0, size - (uint32_t)sizeof(sl_rshort), 1, size};
}

static inline __attribute__((always_inline)) sl_rrec sl_rrec_full_at(const char *rec)
{
    uint32_t size, lane, nattrs, text_len;
    uint8_t type, status, flags;
    uint64_t ts;
    SL_RHDR_FIELD(rec, sl_rhdr, size, size);
    SL_RHDR_FIELD(rec, sl_rhdr, type, type);
    SL_RHDR_FIELD(rec, sl_rhdr, status, status);
    SL_RHDR_FIELD(rec, sl_rhdr, flags, flags);
    SL_RHDR_FIELD(rec, sl_rhdr, lane, lane);
    SL_RHDR_FIELD(rec, sl_rhdr, nattrs, nattrs);
    SL_RHDR_FIELD(rec, sl_rhdr, text_len, text_len);
    SL_RHDR_FIELD(rec, sl_rhdr, ts, ts);
    const sl_id *id = SL_RREC_ID(rec + offsetof(sl_rhdr, id));
    const char *ids = rec + sizeof(sl_rhdr);   /* START with a parent: trace, parent */
    int linked = type == SL_REC_START && (flags & SL_RF_HAS_PARENT);
    const char *text = ids + (linked ? 32 : 0);
    const char *attrs = text + text_len;
    return (sl_rrec){type, status, flags, lane, ts, id, linked ? SL_RREC_ID(ids) : id,
                     linked ? SL_RREC_ID(ids + 16) : id, text, text_len,
                     attrs, nattrs, size - (uint32_t)(attrs - rec), 1, size};
}

/* A copy of the record at rec (it may be overwritten after: the crash
 * path's rings), read by the in-place readers above. */
static inline void sl_rview_decode(const char *rec, sl_rview *v)
{
    sl_rrec r = sl_rrec_is_short(rec) ? sl_rrec_short_at(rec) : sl_rrec_full_at(rec);
    v->type = r.type;
    v->status = r.status;
    v->flags = r.flags;
    v->lane = r.lane;
    v->ts = r.ts;
    memcpy(&v->id, r.id, sizeof v->id);
    memset(&v->trace, 0, sizeof v->trace);
    memset(&v->parent, 0, sizeof v->parent);
    if (r.type == SL_REC_START) {
        memcpy(&v->trace, r.trace, sizeof v->trace);
        if (r.flags & SL_RF_HAS_PARENT) memcpy(&v->parent, r.parent, sizeof v->parent);
    }
    v->text = r.text;
    v->text_len = r.text_len;
    v->attrs = r.attrs;
    v->nattrs = r.nattrs;
    v->attrs_size = r.attrs_size;
}

#endif
