/* ui.h - the web page served at GET / for people rather than programs: web/index.html,
 * web/app.js and web/app.css of the tree, embedded into the binary at build time (no file
 * is read at run time, nothing is fetched from elsewhere). Each has an ETag (a hash of its
 * bytes) and a gzip copy made once at start. The route (routes.c) adds the security
 * headers and honours If-None-Match and Accept-Encoding. */
#ifndef LGMSD_UI_H
#define LGMSD_UI_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *path; /* "/", "/ui/app.js", "/ui/app.css" */
    const char *ctype;
    const char *data;
    size_t len;
    char etag[24]; /* "\"<16 hex digits>\"" */
    uint8_t *gz;   /* gzip'ed copy, or NULL */
    size_t gz_len;
} lgmsd_ui_asset;

/* Sizes, ETags and gzip copies, once (the loop thread, at start). 0. */
int lgmsd_ui_init(void);
/* The asset at this path, or NULL. */
const lgmsd_ui_asset *lgmsd_ui_find(const char *path);

#endif
