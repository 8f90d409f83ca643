/* ui.c - the web page (web/ in the tree, embedded at build time by api/embed.S). */
#include "ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

extern const char lgmsd_web_index_html[], lgmsd_web_index_html_end[];
extern const char lgmsd_web_app_js[], lgmsd_web_app_js_end[];
extern const char lgmsd_web_app_css[], lgmsd_web_app_css_end[];

static lgmsd_ui_asset assets[] = {
    {"/", "text/html; charset=utf-8", lgmsd_web_index_html, 0, "", NULL, 0},
    {"/ui/app.js", "text/javascript; charset=utf-8", lgmsd_web_app_js, 0, "", NULL, 0},
    {"/ui/app.css", "text/css; charset=utf-8", lgmsd_web_app_css, 0, "", NULL, 0},
};
static const char *const ends[] = {lgmsd_web_index_html_end, lgmsd_web_app_js_end, lgmsd_web_app_css_end};

/* gzip of data (level 9), malloc'ed; NULL on failure (the plain copy is served then). */
static uint8_t *gzip(const char *data, size_t len, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)data, z.avail_in = (uInt)len;
    z.next_out = out, z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* FNV-1a 64 of the bytes: the ETag only has to change when the content does. */
static unsigned long long fnv1a(const char *p, size_t n) {
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

int lgmsd_ui_init(void) {
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
        lgmsd_ui_asset *a = &assets[i];
        if (a->len) continue; /* done already */
        a->len = (size_t)(ends[i] - a->data);
        snprintf(a->etag, sizeof a->etag, "\"%016llx\"", fnv1a(a->data, a->len));
        a->gz = gzip(a->data, a->len, &a->gz_len);
    }
    return 0;
}

const lgmsd_ui_asset *lgmsd_ui_find(const char *path) {
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (!strcmp(assets[i].path, path)) return assets[i].len ? &assets[i] : NULL;
    return NULL;
}
