/* upload.c - gather a request body (raw or multipart/form-data) under the body limit.
 * The one place max_body_bytes is enforced on bytes that arrive. */
#include "upload.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POST_BUFFER 65536

static atomic_ullong budget = ~0ULL, held; /* held: the cap of every buffer of an upload */

void lgmsd_upload_set_budget(unsigned long long bytes) { atomic_store(&budget, bytes); }

unsigned long long lgmsd_upload_held(void) { return atomic_load(&held); }

void lgmsd_upload_init(lgmsd_upload *u, size_t max_bytes) {
    memset(u, 0, sizeof *u);
    u->max_bytes = max_bytes;
}

static void drop_body(lgmsd_upload *u) {
    free(u->body);
    atomic_fetch_sub(&held, u->cap);
    u->body = NULL;
    u->len = u->cap = 0;
}

static void set_bad(lgmsd_upload *u, const char *detail) {
    if (u->bad) return; /* keep the first reason */
    u->bad = 1;
    snprintf(u->detail, sizeof u->detail, "%s", detail);
}

/* Append to body; -1 when out of memory. The caller has checked the limit. */
static int append(lgmsd_upload *u, const char *data, size_t size) {
    if (size == 0) return 0; /* the form parser hands over empty pieces; body may still be NULL */
    if (u->len + size > u->cap) {
        size_t cap = u->cap ? u->cap : 65536;
        while (cap < u->len + size)
            cap *= 2;
        if (cap > u->max_bytes) cap = u->max_bytes;
        unsigned long long grow = cap - u->cap, before = atomic_fetch_add(&held, grow);
        if (before + grow > atomic_load(&budget)) { /* spent: let this upload go, not the process */
            atomic_fetch_sub(&held, grow);
            u->over_budget = 1;
            drop_body(u);
            return 0;
        }
        uint8_t *nb = realloc(u->body, cap);
        if (!nb) {
            atomic_fetch_sub(&held, grow);
            return -1;
        }
        u->body = nb, u->cap = cap;
    }
    memcpy(u->body + u->len, data, size);
    u->len += size;
    return 0;
}

static enum MHD_Result on_form_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                     const char *content_type, const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size) {
    (void)kind, (void)content_type, (void)transfer_encoding;
    lgmsd_upload *u = cls;
    char detail[160];
    if (!key) return MHD_YES;
    if (!strcmp(key, "image")) {
        if (off == 0 && u->image_parts++) set_bad(u, "the form has more than one \"image\" field");
        /* the wire count bounds the image too, but a form's parts never exceed it */
        if (u->bad || u->over_budget || size > u->max_bytes - u->len) return MHD_YES;
        return append(u, data, size) ? MHD_NO : MHD_YES;
    }
    if (filename) { /* a file under another name: say where the image goes */
        snprintf(detail, sizeof detail,
                 "the form has no \"image\" field: send the file as image=@FILE, not %.40s=@FILE", key);
        set_bad(u, detail);
        return MHD_YES;
    }
    int i = 0;
    while (i < u->n_fields && strcmp(u->field_key[i], key))
        i++;
    if (i == u->n_fields) {
        if (u->n_fields == LGMSD_FORM_FIELDS || strlen(key) >= sizeof u->field_key[0]) {
            set_bad(u, "too many or too long form fields");
            return MHD_YES;
        }
        snprintf(u->field_key[i], sizeof u->field_key[i], "%s", key);
        u->field_len[i] = 0;
        u->n_fields++;
    }
    if (u->field_len[i] + size >= LGMSD_FORM_VALUE_MAX) {
        snprintf(detail, sizeof detail, "form field \"%.31s\" is too long", key);
        set_bad(u, detail);
        return MHD_YES;
    }
    memcpy(u->field_val[i] + u->field_len[i], data, size);
    u->field_len[i] += size;
    u->field_val[i][u->field_len[i]] = 0;
    return MHD_YES;
}

int lgmsd_upload_start_form(lgmsd_upload *u, struct MHD_Connection *conn) {
    u->pp = MHD_create_post_processor(conn, POST_BUFFER, on_form_field, u);
    if (u->pp) return 0;
    set_bad(u, "multipart/form-data body without a boundary parameter");
    return -1;
}

int lgmsd_upload_feed(lgmsd_upload *u, const char *data, size_t size) {
    u->received += size;
    if (u->too_large || u->over_budget) return 0;
    if (u->received > u->max_bytes) { /* discard the rest; the caller answers 413 at the end */
        u->too_large = 1;
        drop_body(u);
        return 0;
    }
    if (!u->pp) return append(u, data, size);
    if (MHD_post_process(u->pp, data, size) != MHD_YES) set_bad(u, "malformed multipart/form-data body");
    return 0;
}

int lgmsd_upload_finish(lgmsd_upload *u, api_options *o) {
    if (u->bad) return -1;
    if (u->pp) {
        for (int i = 0; i < u->n_fields; i++) {
            api_error e;
            if (api_options_set(o, u->field_key[i], u->field_val[i], &e)) {
                set_bad(u, e.detail);
                return -1;
            }
        }
        if (!u->image_parts) {
            set_bad(u, "the multipart form has no \"image\" field (curl -F image=@scan.png)");
            return -1;
        }
    }
    return 0;
}

uint8_t *lgmsd_upload_take(lgmsd_upload *u, size_t *len) {
    uint8_t *b = u->body;
    *len = u->len;
    atomic_fetch_sub(&held, u->cap);
    u->body = NULL;
    u->len = u->cap = 0;
    return b;
}

void lgmsd_upload_free(lgmsd_upload *u) {
    if (u->pp) MHD_destroy_post_processor(u->pp);
    u->pp = NULL;
    drop_body(u);
}
