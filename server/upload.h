/* upload.h - one request body as it arrives: raw bytes (PNG, JPEG, JSON) or the fields
 * of a multipart form, held to a byte limit.
 *
 * The multipart form goes through libmicrohttpd's post processor; the "image" field is
 * gathered into body, other short fields are kept for api_options. Errors are sticky:
 * the first one is kept (too_large or bad + detail) and the rest of the body discarded,
 * so the caller answers once, when the body is complete. */
#ifndef LGMSD_UPLOAD_H
#define LGMSD_UPLOAD_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/options.h"

#define LGMSD_FORM_FIELDS 16
#define LGMSD_FORM_VALUE_MAX 256

typedef struct {
    size_t max_bytes; /* the body limit (max_body_bytes) */
    uint8_t *body;    /* raw body, or the bytes of the form's "image" field */
    size_t len, cap;
    unsigned long long received; /* bytes seen on the wire, including discarded ones */
    int too_large, bad;
    int over_budget;  /* the process-wide budget for bodies being received was spent */
    char detail[512]; /* why bad */
    struct MHD_PostProcessor *pp;
    int image_parts, n_fields;
    char field_key[LGMSD_FORM_FIELDS][32], field_val[LGMSD_FORM_FIELDS][LGMSD_FORM_VALUE_MAX];
    size_t field_len[LGMSD_FORM_FIELDS];
} lgmsd_upload;

/* The bytes every upload being received may hold together (body_budget); set once at
 * start. Buffers count as they grow, as bytes arrive, never from a declared length; an
 * upload that would pass the budget drops what it holds, discards the rest of its body and
 * is marked over_budget (the route answers 503). Handed-over bodies no longer count. */
void lgmsd_upload_set_budget(unsigned long long bytes);
/* Bytes the uploads being received hold now. */
unsigned long long lgmsd_upload_held(void);
void lgmsd_upload_init(lgmsd_upload *u, size_t max_bytes);
/* Parse the body as multipart/form-data of this connection's Content-Type.
 * -1 when the header has no boundary (u->bad is set). */
int lgmsd_upload_start_form(lgmsd_upload *u, struct MHD_Connection *conn);
/* Take the next piece of the body. -1 only when out of memory. */
int lgmsd_upload_feed(lgmsd_upload *u, const char *data, size_t size);
/* After the last piece: apply the form's text fields to o and check an image came.
 * 0, or -1 with u->detail set (u->bad). Raw bodies only need a non-empty body. */
int lgmsd_upload_finish(lgmsd_upload *u, api_options *o);
/* Hand the body over (the caller frees it); the upload keeps nothing. */
uint8_t *lgmsd_upload_take(lgmsd_upload *u, size_t *len);
void lgmsd_upload_free(lgmsd_upload *u);

#endif
