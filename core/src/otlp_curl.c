/*
 * otlp_curl.c: what the OTLP exporter needs from outside: libcurl, loaded
 * at first use, and the reading of a collector's partial success.
 *
 * Key idea: libcurl is loaded with dlopen by the first exporter, not
 * linked: linked, it and the ~30 libraries it needs (TLS, Kerberos, LDAP,
 * ...) were loaded and their symbols resolved by every program that
 * required spanline and by every CLI command (22M instructions, a few ms,
 * at each start), for a feature most runs never use. Its header still
 * gives the types and option numbers, part of its stable ABI (soname
 * libcurl.so.4). A partial success (ExportTracePartialSuccess: 1
 * rejected_spans, 2 error_message) is read from the start of a 2xx body.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "otlp_curl.h"

sl_curl_api sl_curl;


static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256];   /* why libcurl cannot be used, or "" */

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define CURL_SYMBOL(lib, field, name) \
    (*(void **)(&sl_curl.field) = dlsym(lib, name)) != NULL

static void load(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(failure, sizeof failure, "cannot load libcurl.so.4 (%s)", why ? why : "dlopen failed");
        return;
    }
    if (!(CURL_SYMBOL(lib, global_init, "curl_global_init") && CURL_SYMBOL(lib, easy_init, "curl_easy_init") &&
          CURL_SYMBOL(lib, easy_setopt, "curl_easy_setopt") && CURL_SYMBOL(lib, easy_perform, "curl_easy_perform") &&
          CURL_SYMBOL(lib, easy_getinfo, "curl_easy_getinfo") &&
          CURL_SYMBOL(lib, easy_strerror, "curl_easy_strerror") &&
          CURL_SYMBOL(lib, easy_cleanup, "curl_easy_cleanup") &&
          CURL_SYMBOL(lib, slist_append, "curl_slist_append") &&
          CURL_SYMBOL(lib, slist_free_all, "curl_slist_free_all"))) {
        snprintf(failure, sizeof failure, "libcurl.so.4 lacks a function spanline needs");
        return;   /* the library stays loaded: harmless, and dlclose would race other users */
    }
    CURLcode rc = sl_curl.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) snprintf(failure, sizeof failure, "libcurl: %s", sl_curl.easy_strerror(rc));
}

const char *sl_curl_load(void)
{
    pthread_once(&once, load);
    return failure[0] ? failure : NULL;
}

/* ===== PARTIAL SUCCESS ===== */

uint64_t sl_otlp_rejected_json(const char *p, size_t len)
{
    static const char key[] = "\"rejectedSpans\"";
    const char *e = p + len, *k = memmem(p, len, key, sizeof key - 1);
    if (!k) return 0;
    k += sizeof key - 1;
    while (k < e && (*k == ' ' || *k == ':' || *k == '"' || *k == '\t' || *k == '\n' || *k == '\r')) k++;
    uint64_t v = 0;
    while (k < e && *k >= '0' && *k <= '9' && v < UINT64_MAX / 10) v = v * 10 + (uint64_t)(*k++ - '0');
    return v;
}

/* A protobuf varint at *p; 0 when cut short. */
static int varint(const unsigned char **p, const unsigned char *e, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < e && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

/* Field `want` (a varint) of the message [p, e), descending into field
 * `within` (a nested message) first when within is nonzero. */
static uint64_t proto_rejected(const unsigned char *p, const unsigned char *e, int within)
{
    uint64_t tag, v;
    while (p < e && varint(&p, e, &tag)) {
        unsigned field = (unsigned)(tag >> 3), wt = (unsigned)(tag & 7);
        if (wt == 0) {
            if (!varint(&p, e, &v)) return 0;
            if (!within && field == 1) return v;
        } else if (wt == 2) {
            if (!varint(&p, e, &v) || v > (uint64_t)(e - p)) return 0;
            if (within && field == 1) return proto_rejected(p, p + v, 0);
            p += v;
        } else if (wt == 1 || wt == 5) {
            if ((uint64_t)(e - p) < (wt == 1 ? 8u : 4u)) return 0;
            p += wt == 1 ? 8 : 4;
        } else {
            return 0;
        }
    }
    return 0;
}

uint64_t sl_otlp_rejected_proto(const char *p, size_t len)
{
    return proto_rejected((const unsigned char *)p, (const unsigned char *)p + len, 1);
}
