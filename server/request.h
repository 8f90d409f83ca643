/* request.h - one HTTP request as the routes see it, apart from any socket: what the
 * transport read (method, route, headers through a small seam of callbacks, the body),
 * the work handed to a worker and its outcome, and the reply the route decided on. The
 * transport turns the reply into libmicrohttpd calls; unit tests read it directly. */
#ifndef LGMSD_REQUEST_H
#define LGMSD_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "../api/options.h"
#include "../api/router.h"
#include "../api/status.h"
#include "jobs.h"
#include "pool.h"
#include "store.h"
#include "upload.h"

typedef enum { REQ_RECEIVING = 0, REQ_QUEUED, REQ_DONE, REQ_ANSWERED } req_state;
typedef enum { FORM_NONE = 0, FORM_RAW, FORM_MULTIPART, FORM_JSON } body_form;

/* The transport's side of a request. */
typedef int (*srv_query_fn)(void *arg, const char *key, const char *value); /* 0: stop */
typedef struct {
    const char *(*header)(void *conn, const char *name); /* NULL when absent */
    void (*each_query)(void *conn, srv_query_fn fn, void *arg);
    /* start parsing the body as multipart/form-data into up; 0, or -1 (no boundary) */
    int (*start_form)(void *conn, lgmsd_upload *up);
} srv_conn_ops;

#define SRV_MAX_HEADERS 10

typedef struct {
    int status; /* 0 until a route decided */
    const char *ctype;
    char *body;
    size_t len;
    int owned; /* free(body) when sent */
    int n_headers;
    const char *name[SRV_MAX_HEADERS];
    char value[SRV_MAX_HEADERS][320];
} srv_reply;

typedef struct srv_request {
    lgmsd_task task; /* first member: the pool hands it back */
    struct lgmsd_server *srv;
    const srv_conn_ops *ops;
    void *conn;
    char id[48], method[12];
    double t_start;
    api_route route;
    int model_index;
    char key_id[LGMSD_KEY_ID_LEN + 1]; /* the API key's id, "" without keys */
    char origin[256];                  /* an allowed CORS Origin, or "" */
    req_state state;
    int sent; /* the transport queued the reply */
    body_form form;
    int dicom; /* Content-Type application/dicom: DICOM even without a Part 10 preamble */
    lgmsd_upload up;
    api_options opts;
    /* handed to the worker, and what it made of it */
    uint8_t *body;
    size_t body_len;
    char *out; /* the reply body the worker made */
    size_t out_len;
    const char *out_ctype; /* its type: JSON, or application/dicom */
    api_error err;         /* err.status != API_OK: the worker refused or failed */
    double queue_ms, inference_ms;
    int width, height;
    lgmsd_store_call call; /* volume and job routes: the job store's call and answer */
    srv_reply reply;
} srv_request;

/* Decide the reply (the routes call these; nothing is sent until the transport does). */
void srv_reply_body(srv_request *r, int status, const char *ctype, char *body, size_t len, int owned);
void srv_reply_header(srv_request *r, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* problem+json of an api_error: the status's HTTP code, its detail with the hint of the
 * setting it names, and the headers that go with it (Retry-After on 503, WWW-Authenticate
 * on 401, Allow on 405). retry_after <= 0 means 1 second. */
void srv_reply_error(srv_request *r, const api_error *e, int retry_after);
/* The same from a status and a printf detail. */
void srv_reply_fail(srv_request *r, api_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void srv_reply_free(srv_reply *reply);
const char *srv_header(const srv_request *r, const char *name);

#endif
