/*
 * reader.c: the stream reader: bytes from a path, an fd or memory -> records.
 *
 * Key idea: one large window over the input; JSONL lines are cut with memchr
 * and parsed in place (reader_jsonl.c), msgpack records are unpacked in place
 * (reader_msgpack.c). Anything that does not parse is skipped and counted by
 * line, never fatal. In follow mode EOF is SL_EAGAIN, a shrunk file is read
 * again from the start and a path that now names another file is reopened.
 */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader_internal.h"

#define SL_READ_CHUNK (1u << 20)
#define SL_DEFAULT_MAX_LINE (16u << 20)
#define SL_DEFAULT_MAX_GARBAGE (64u << 20)
#define SL_BAD_KEEP 64

enum { FMT_UNKNOWN = 0, FMT_JSONL = 1, FMT_MSGPACK = 2 };

struct sl_reader {
    int fd, own_fd;
    char *path;
    dev_t dev;
    ino_t ino;
    int mem;                  /* reading caller memory: buf is not ours */
    char *buf;
    size_t cap, start, end;   /* unread bytes: buf[start, end) */
    size_t scanned;           /* buf[start, scanned) holds no '\n' */
    uint64_t file_pos;        /* bytes read from the current file */
    uint64_t consumed;        /* bytes consumed (sl_reader_offset) */
    uint64_t line;
    int format;
    int follow;
    size_t max_line;
    uint64_t max_garbage;     /* this many bytes in a row without a record: give up */
    uint64_t garbage;         /* bytes since the last record */
    uint64_t garbage_line;    /* the line where that run began */
    char error[192];          /* why the last call failed */
    int at_eof;
    int skipping;             /* discarding an over-long line */
    int origin;
    uint64_t bad;
    uint64_t bad_lines[SL_BAD_KEEP];
    sl_buf scratch;
    msgpack_unpacked unpacked;
};

static void note_bad(sl_reader *r, uint64_t line)
{
    if (r->bad < SL_BAD_KEEP) r->bad_lines[r->bad] = line;
    r->bad++;
}

static sl_reader *reader_new(const sl_reader_opts *opts, sl_error *err)
{
    sl_reader *r = calloc(1, sizeof *r);
    if (!r) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return NULL;
    }
    r->fd = -1;
    r->follow = opts ? opts->follow : 0;
    r->max_line = opts && opts->max_line ? opts->max_line : SL_DEFAULT_MAX_LINE;
    r->max_garbage = opts && opts->max_garbage ? opts->max_garbage : SL_DEFAULT_MAX_GARBAGE;
    msgpack_unpacked_init(&r->unpacked);
    return r;
}

static int alloc_buffer(sl_reader *r, sl_error *err)
{
    r->cap = SL_READ_CHUNK * 4;
    r->buf = malloc(r->cap);
    if (!r->buf) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        return SL_ENOMEM;
    }
    return SL_OK;
}

sl_reader *sl_reader_open_fd(int fd, const sl_reader_opts *opts, sl_error *err)
{
    if (fd < 0) {
        sl_set_error(err, SL_EINVAL, 0, "bad file descriptor");
        return NULL;
    }
    sl_reader *r = reader_new(opts, err);
    if (!r) return NULL;
    r->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        sl_set_error(err, SL_EIO, EISDIR, "%s", strerror(EISDIR));
        sl_reader_close(r);
        return NULL;
    }
    if (alloc_buffer(r, err) != SL_OK) {
        sl_reader_close(r);
        return NULL;
    }
    return r;
}

sl_reader *sl_reader_open_path(const char *path, const sl_reader_opts *opts, sl_error *err)
{
    if (!path) {
        sl_set_error(err, SL_EINVAL, 0, "no path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        sl_set_error(err, SL_EIO, e, "%s: %s", path, strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        sl_set_error(err, SL_EIO, EISDIR, "%s: %s", path, strerror(EISDIR));
        return NULL;
    }
    sl_reader *r = sl_reader_open_fd(fd, opts, err);
    if (!r) {
        close(fd);
        return NULL;
    }
    r->own_fd = 1;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->path = strdup(path);
    if (!r->path) {
        sl_set_error(err, SL_ENOMEM, 0, "out of memory");
        sl_reader_close(r);
        return NULL;
    }
    return r;
}

sl_reader *sl_reader_open_mem(const char *data, size_t len, const sl_reader_opts *opts, sl_error *err)
{
    if (!data && len) {
        sl_set_error(err, SL_EINVAL, 0, "no data");
        return NULL;
    }
    sl_reader *r = reader_new(opts, err);
    if (!r) return NULL;
    r->mem = 1;
    r->follow = 0;
    r->buf = (char *)data;
    r->cap = r->end = len;
    r->at_eof = 1;
    return r;
}

void sl_reader_close(sl_reader *r)
{
    if (!r) return;
    if (r->own_fd && r->fd >= 0) close(r->fd);
    if (!r->mem) free(r->buf);
    free(r->path);
    sl_buf_free(&r->scratch);
    msgpack_unpacked_destroy(&r->unpacked);
    free(r);
}

uint64_t sl_reader_bad_lines(const sl_reader *r, uint64_t *lines, size_t cap)
{
    size_t n = r->bad < SL_BAD_KEEP ? (size_t)r->bad : SL_BAD_KEEP;
    if (n > cap) n = cap;
    if (lines && n) memcpy(lines, r->bad_lines, n * sizeof *lines);
    return r->bad;
}

uint64_t sl_reader_offset(const sl_reader *r)
{
    return r->consumed;
}

const char *sl_reader_error(const sl_reader *r)
{
    return r->error[0] ? r->error : NULL;
}

/* ===== ENDLESS INPUT ===== */

/* Counts n bytes that were no record; SL_EPARSE once a run of them passes
 * max_garbage (the input is not a span stream: /dev/zero, a binary file). */
static int note_garbage(sl_reader *r, uint64_t n, uint64_t line)
{
    if (r->garbage == 0) r->garbage_line = line;
    r->garbage += n;
    if (r->garbage <= r->max_garbage) return SL_OK;
    double mib = (double)r->max_garbage / (1024.0 * 1024.0);
    const char *path = r->path ? r->path : "", *sep = r->path ? ": " : "";
    if (r->skipping && r->garbage_line == line)
        snprintf(r->error, sizeof r->error,
                 "%s%sline %llu is longer than %.4g MiB and holds no record: not a span stream", path,
                 sep, (unsigned long long)line, mib);
    else
        snprintf(r->error, sizeof r->error,
                 "%s%sno record in %.4g MiB of input (from line %llu): not a span stream", path, sep,
                 mib, (unsigned long long)r->garbage_line);
    return SL_EPARSE;
}

int sl_reader_origin(const sl_reader *r)
{
    return r->origin;
}

/* ===== INPUT ===== */

/* Starts the current file over (truncated or replaced). A partial line
 * from before is lost: count it. */
static void restart(sl_reader *r)
{
    if (r->end > r->start && !r->skipping) note_bad(r, r->line + 1);
    r->start = r->end = r->scanned = 0;
    r->file_pos = 0;
    r->line = 0;
    r->format = FMT_UNKNOWN;
    r->skipping = 0;
    r->at_eof = 0;
}

/* Follow mode at EOF: notice truncation and rotation. */
static void check_file(sl_reader *r)
{
    struct stat st;
    if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->file_pos) {
        lseek(r->fd, 0, SEEK_SET);
        restart(r);
        return;
    }
    if (!r->path) return;
    struct stat ps;
    if (stat(r->path, &ps) != 0) return;          /* gone for now: keep waiting */
    if (ps.st_ino == r->ino && ps.st_dev == r->dev) return;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    close(r->fd);
    r->fd = fd;
    r->dev = ps.st_dev;
    r->ino = ps.st_ino;
    restart(r);
}

/* Reads more input. Returns 1 when bytes arrived, 0 at EOF, SL_EIO. */
static int fill(sl_reader *r)
{
    if (r->mem) return 0;
    r->error[0] = '\0';
    if (r->start > 0 && (r->end == r->cap || r->start > r->cap / 2)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->scanned -= r->start;
        r->start = 0;
    }
    if (r->end == r->cap) {
        size_t ncap = r->cap * 2;
        if (ncap > r->max_line + SL_READ_CHUNK) ncap = r->max_line + SL_READ_CHUNK;
        if (ncap <= r->cap) return 1;  /* full: the caller handles an over-long line */
        char *nb = realloc(r->buf, ncap);
        if (!nb) return SL_ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (n > 0) {
            r->end += (size_t)n;
            r->file_pos += (uint64_t)n;
            r->at_eof = 0;
            return 1;
        }
        if (n == 0) {
            r->at_eof = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        snprintf(r->error, sizeof r->error, "read error: %s", strerror(errno));
        return SL_EIO;
    }
}

/* ===== JSONL ===== */

static int next_jsonl(sl_reader *r, sl_record *out)
{
    for (;;) {
        char *base = r->buf + r->start;
        size_t avail = r->end - r->start;
        size_t from = r->scanned > r->start ? r->scanned - r->start : 0;
        char *nl = avail > from ? memchr(base + from, '\n', avail - from) : NULL;
        size_t len;
        int last = 0;
        if (!nl) {
            r->scanned = r->end;
            if (avail > r->max_line) {
                /* Over-long: count it once, then drop bytes until its newline. */
                if (!r->skipping) note_bad(r, r->line + 1);
                r->skipping = 1;
                if (note_garbage(r, avail, r->line + 1) != SL_OK) return SL_EPARSE;
                r->consumed += avail;
                if (r->mem) r->start = r->scanned = r->end;
                else r->start = r->end = r->scanned = 0;
                continue;
            }
            int got = fill(r);
            if (got < 0) return SL_EIO;
            if (got > 0) continue;
            if (avail == 0 || r->follow) {
                if (r->follow && r->fd >= 0) check_file(r);
                return r->follow ? SL_EAGAIN : SL_EOF;
            }
            len = avail;  /* a last line without '\n' */
            last = 1;
        } else {
            len = (size_t)(nl - base);
        }
        r->start += len + (last ? 0 : 1);
        r->scanned = r->start;
        r->consumed += len + (last ? 0 : 1);
        if (r->skipping) {
            if (note_garbage(r, len + 1, r->line + 1) != SL_OK) return SL_EPARSE;
            r->skipping = 0;
            r->line++;
            continue;
        }
        r->line++;
        size_t line_bytes = len + 1;
        if (len && base[len - 1] == '\r') len--;
        size_t blank = 0;
        while (blank < len && (base[blank] == ' ' || base[blank] == '\t')) blank++;
        if (blank == len) {
            /* empty lines are not records */
            if (note_garbage(r, line_bytes, r->line) != SL_OK) return SL_EPARSE;
            continue;
        }
        if (len > r->max_line) {
            note_bad(r, r->line);
            if (note_garbage(r, line_bytes, r->line) != SL_OK) return SL_EPARSE;
            continue;
        }
        if (r->scratch.cap < len && sl_buf_reserve(&r->scratch, len) != SL_OK) return SL_ENOMEM;
        if (sl_jsonl_parse_line(base, len, r->scratch.ptr, out, &r->origin) != SL_OK) {
            note_bad(r, r->line);
            if (note_garbage(r, line_bytes, r->line) != SL_OK) return SL_EPARSE;
            continue;
        }
        r->garbage = 0;
        out->raw = base;
        out->raw_len = len;
        out->raw_spanline = r->origin == SL_ORIGIN_SPANLINE_JSONL;
        out->line = r->line;
        return SL_OK;
    }
}

/* ===== MSGPACK ===== */

static int is_map_start(unsigned char c)
{
    return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Walks one msgpack object without allocating: its length in bytes, 0 when
 * more bytes are needed, -1 when it is garbage (a reserved byte, or
 * containers announcing more items than a record may hold). msgpack-c
 * allocates a container's items up front, so a garbage array32 header must
 * never reach it. */
static long long msgpack_extent(const unsigned char *p, size_t n, size_t max)
{
    size_t pos = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        if (pending > max || pos + pending > max) return -1;
        if (pos >= n) return 0;
        unsigned b = p[pos++];
        pending--;
        uint64_t skip = 0, items = 0;
        int lenb = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) skip = 0;
        else if (b <= 0x8f) items = 2u * (b & 15);
        else if (b <= 0x9f) items = b & 15;
        else if (b <= 0xbf) skip = b & 31;
        else switch (b) {
        case 0xc4: case 0xd9: lenb = 1; break;
        case 0xc5: case 0xda: lenb = 2; break;
        case 0xc6: case 0xdb: lenb = 4; break;
        case 0xc7: lenb = 1; skip = 1; break;
        case 0xc8: lenb = 2; skip = 1; break;
        case 0xc9: lenb = 4; skip = 1; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xd4: skip = 2; break;
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xdc: case 0xdd: case 0xde: case 0xdf: {
            int w = (b == 0xdc || b == 0xde) ? 2 : 4;
            if (pos + (size_t)w > n) return pos + (size_t)w > max ? -1 : 0;
            items = be(p + pos, w);
            if (b >= 0xde) items *= 2;
            pos += (size_t)w;
            break;
        }
        default: return -1;  /* 0xc1: never used */
        }
        if (lenb) {
            if (pos + (size_t)lenb > n) return pos + (size_t)lenb > max ? -1 : 0;
            skip += be(p + pos, lenb);
            pos += (size_t)lenb;
        }
        if (skip > max || pos + skip > max) return -1;
        pos += (size_t)skip;
        if (items > max) return -1;
        pending += items;
    }
    if (pos > n) return 0;
    return (long long)pos;
}

static int next_msgpack(sl_reader *r, sl_record *out)
{
    for (;;) {
        size_t avail = r->end - r->start;
        if (avail == 0) {
            int got = fill(r);
            if (got < 0) return SL_EIO;
            if (got == 0) {
                if (r->follow && r->fd >= 0) check_file(r);
                return r->follow ? SL_EAGAIN : SL_EOF;
            }
            continue;
        }
        size_t off = 0;
        const char *base = r->buf + r->start;
        long long extent = msgpack_extent((const unsigned char *)base, avail, r->max_line);
        msgpack_unpack_return ret;
        if (extent < 0) ret = MSGPACK_UNPACK_PARSE_ERROR;
        else if (extent == 0) ret = MSGPACK_UNPACK_CONTINUE;
        else ret = msgpack_unpack_next(&r->unpacked, base, (size_t)extent, &off);
        if (ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES) {
            r->start += off;
            r->consumed += off;
            r->line++;
            if (sl_msgpack_record(&r->unpacked.data, &r->scratch, out) != SL_OK) {
                note_bad(r, r->line);
                if (note_garbage(r, off, r->line) != SL_OK) return SL_EPARSE;
                continue;
            }
            r->garbage = 0;
            out->raw = base;
            out->raw_len = off;
            out->line = r->line;
            r->origin = SL_ORIGIN_MSGPACK;
            return SL_OK;
        }
        if (ret == MSGPACK_UNPACK_CONTINUE) {
            if (avail > r->max_line) {
                ret = MSGPACK_UNPACK_PARSE_ERROR;  /* resync below */
            } else {
                int got = fill(r);
                if (got < 0) return SL_EIO;
                if (got > 0) continue;
                if (r->follow) {
                    if (r->fd >= 0) check_file(r);
                    return SL_EAGAIN;
                }
                /* A truncated last record: garbage like any other bad one. */
                r->line++;
                note_bad(r, r->line);
                r->consumed += avail;
                r->start = r->end;
                if (note_garbage(r, avail, r->line) != SL_OK) return SL_EPARSE;
                return SL_EOF;
            }
        }
        /* Garbage: count one bad record, resync at the next map header. */
        r->line++;
        note_bad(r, r->line);
        size_t skip = 1;
        while (skip < avail && !is_map_start((unsigned char)base[skip])) skip++;
        r->start += skip;
        r->consumed += skip;
        if (note_garbage(r, skip, r->line) != SL_OK) return SL_EPARSE;
    }
}

/* ===== DISPATCH ===== */

int sl_reader_next(sl_reader *r, sl_record *out)
{
    if (!r || !out) return SL_EINVAL;
    if (r->format == FMT_UNKNOWN) {
        while (r->end == r->start) {
            int got = fill(r);
            if (got < 0) return SL_EIO;
            if (got == 0) {
                if (r->follow && r->fd >= 0) check_file(r);
                return r->follow ? SL_EAGAIN : SL_EOF;
            }
        }
        r->format = is_map_start((unsigned char)r->buf[r->start]) ? FMT_MSGPACK : FMT_JSONL;
    }
    return r->format == FMT_MSGPACK ? next_msgpack(r, out) : next_jsonl(r, out);
}
