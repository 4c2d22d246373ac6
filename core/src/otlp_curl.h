/*
 * otlp_curl.h: libcurl's functions as the OTLP exporter calls them
 * (sl_curl, filled by sl_curl_load), and the partial-success readers.
 */
#ifndef SL_OTLP_CURL_H
#define SL_OTLP_CURL_H

#include <curl/curl.h>

#include "otlp.h"

typedef struct sl_curl_api {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    void (*easy_cleanup)(CURL *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} sl_curl_api;

/* Filled by the first successful sl_curl_load. */
extern sl_curl_api sl_curl;

/* Loads libcurl.so.4 and runs curl_global_init, once per process: NULL
 * when sl_curl is ready, else why it cannot be (the same answer after). */
const char *sl_curl_load(void);

/* The rejected_spans of a partial success at the start of a 2xx response
 * body (OTLP JSON or protobuf), or 0. */
uint64_t sl_otlp_rejected_json(const char *body, size_t len);
uint64_t sl_otlp_rejected_proto(const char *body, size_t len);

#endif
