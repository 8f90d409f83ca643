/* routes.c - the v1 routes: a table of handlers and the policies each one needs. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../api/openapi.h"
#include "../api/segment_volume.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "ui.h"
#include "workers.h"

enum {
    NEEDS_KEY = 1,    /* 401 without a listed API key (when keys are configured) */
    NOT_DRAINING = 2, /* 503 once SIGTERM arrived */
    MODEL_2D = 4,     /* {name} (or the default) must be a 2-D model */
    MODEL_3D = 8,     /* ... a 3-D model */
};

typedef struct {
    unsigned policy;
    void (*begin)(lgmsd_server *s, srv_request *r); /* answer, or accept a body */
    void (*body)(lgmsd_server *s, srv_request *r);  /* the body is complete */
    void (*done)(lgmsd_server *s, srv_request *r);  /* the task came back */
} route_handler;

/* ---------------------------------------------------------------- cheap routes */

static void get_healthz(lgmsd_server *s, srv_request *r) {
    (void)s;
    static char ok[] = "{\"status\":\"ok\"}";
    srv_reply_body(r, 200, "application/json", ok, sizeof ok - 1, 0);
}

static void get_readyz(lgmsd_server *s, srv_request *r) {
    const char *why;
    int ok = lgmsd_server_ready(s, &why);
    lgmsd_metrics_set_ready(ok);
    char *body = malloc(64);
    if (!body) {
        srv_reply_fail(r, API_INTERNAL, "out of memory");
        return;
    }
    int n = snprintf(body, 64, "{\"status\":\"%s\"}", why);
    srv_reply_body(r, ok ? 200 : 503, "application/json", body, (size_t)n, 1);
    if (!ok) srv_reply_header(r, "Retry-After", "1");
}

static void get_metrics(lgmsd_server *s, srv_request *r) {
    int queued, busy;
    lgmsd_pool_load(s->pool, &queued, &busy);
    lgmsd_metrics_set_queue(queued, busy);
    s->store->gauges(s);
    size_t len;
    char *body = lgmsd_metrics_render(&len);
    if (!body) {
        srv_reply_fail(r, API_INTERNAL, "out of memory");
        return;
    }
    srv_reply_body(r, 200, "text/plain; version=0.0.4", body, len, 1);
}

static void get_openapi(lgmsd_server *s, srv_request *r) {
    (void)s;
    srv_reply_body(r, 200, "application/json", (char *)api_openapi_json(), api_openapi_json_len(), 0);
}

/* The web page: 304 for a cached copy, gzip when accepted, and the headers that keep it to
 * its own origin (no inline script, no framing, no referrer). */
static void get_ui(lgmsd_server *s, srv_request *r) {
    const lgmsd_ui_asset *a = s->cfg->ui ? lgmsd_ui_find(r->route.path) : NULL;
    if (!a) {
        srv_reply_fail(r, API_NOT_FOUND, "no web page here (ui = false); the API is under /v1 (see /openapi.json)");
        return;
    }
    const char *match = srv_header(r, "If-None-Match"), *enc = srv_header(r, "Accept-Encoding");
    int gz = a->gz && enc && strstr(enc, "gzip");
    if (match && !strcmp(match, a->etag))
        srv_reply_body(r, 304, a->ctype, (char *)"", 0, 0);
    else if (gz)
        srv_reply_body(r, 200, a->ctype, (char *)a->gz, a->gz_len, 0);
    else
        srv_reply_body(r, 200, a->ctype, (char *)a->data, a->len, 0);
    if (gz && r->reply.status == 200) srv_reply_header(r, "Content-Encoding", "gzip");
    srv_reply_header(r, "ETag", "%s", a->etag);
    srv_reply_header(r, "Cache-Control", "no-cache");
    srv_reply_header(r, "Vary", "Accept-Encoding");
    srv_reply_header(r, "Content-Security-Policy",
                     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    srv_reply_header(r, "Referrer-Policy", "no-referrer");
    srv_reply_header(r, "X-Frame-Options", "DENY");
}

static void get_models(lgmsd_server *s, srv_request *r) {
    srv_reply_body(r, 200, "application/json", s->models_json, s->models_json_len, 0);
}

static void preflight(lgmsd_server *s, srv_request *r) {
    (void)s;
    srv_reply_body(r, 204, "text/plain", (char *)"", 0, 0);
    srv_reply_header(r, "Allow", "%s, OPTIONS", r->route.allow);
    if (r->origin[0]) {
        srv_reply_header(r, "Access-Control-Allow-Methods", "%s, OPTIONS", r->route.allow);
        srv_reply_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id");
        srv_reply_header(r, "Access-Control-Max-Age", "600");
    }
}

/* ---------------------------------------------------------------- uploads */

static body_form form_of(const char *ctype, int volume) {
    if (!ctype) return FORM_NONE;
    size_t n = strcspn(ctype, "; \t");
#define IS(t) (n == sizeof(t) - 1 && !strncasecmp(ctype, t, n))
    if (IS("multipart/form-data")) return FORM_MULTIPART;
    if (IS("application/octet-stream")) return FORM_RAW;
    if (volume) return IS("application/gzip") || IS("application/x-gzip") ? FORM_RAW : FORM_NONE;
    if (IS("application/json")) return FORM_JSON;
    if (IS("image/png") || IS("image/jpeg") || IS("image/jpg") || IS("application/dicom")) return FORM_RAW;
#undef IS
    return FORM_NONE;
}

static int on_query(void *arg, const char *key, const char *value) {
    srv_request *r = arg;
    if (r->err.status) return 0;
    return api_options_set(&r->opts, key, value, &r->err) == API_OK;
}

/* Shared by both upload routes: the form, the declared size, the query options. */
static void accept_upload(lgmsd_server *s, srv_request *r, int volume) {
    const char *ctype = srv_header(r, "Content-Type");
    r->form = form_of(ctype, volume);
    r->dicom = ctype && !strncasecmp(ctype, "application/dicom", 17);
    if (r->form == FORM_NONE) {
        srv_reply_fail(r, API_UNSUPPORTED, "Content-Type %.60s is not accepted here: send %s", ctype ? ctype : "(none)",
                       volume ? "a NIfTI file (.nii or .nii.gz) as application/octet-stream, application/gzip "
                                "or a multipart/form-data field \"image\""
                              : "multipart/form-data (field \"image\"), image/png, image/jpeg, "
                                "application/dicom, application/octet-stream or application/json");
        return;
    }
    const char *clen = srv_header(r, "Content-Length");
    if (clen) {
        unsigned long long n = strtoull(clen, NULL, 10);
        if (n > s->cfg->max_body_bytes) {
            lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
            api_error e;
            api_fail_limit(&e, "max_body_bytes", "body of %llu bytes exceeds max_body_bytes = %llu", n,
                           (unsigned long long)s->cfg->max_body_bytes);
            {
                srv_reply_error(r, &e, 0);
                return;
            }
        }
    }
    api_options_init(&r->opts);
    const char *accept = srv_header(r, "Accept");
    r->opts.raw_dicom = accept && strstr(accept, "application/dicom");
    r->ops->each_query(r->conn, on_query, r);
    if (r->err.status) {
        srv_reply_error(r, &r->err, 0);
        r->err.status = API_OK;
        return;
    }
    if (r->form == FORM_MULTIPART && r->ops->start_form(r->conn, &r->up)) {
        srv_reply_fail(r, API_BAD_REQUEST, "%s", r->up.detail);
        return;
    }
}

static void unavailable(srv_request *r, int retry_after, const char *fmt, const char *setting, long value) {
    api_error e = {.status = API_UNAVAILABLE, .setting = setting};
    snprintf(e.detail, sizeof e.detail, fmt, value);
    srv_reply_error(r, &e, retry_after);
}

/* The body as the task's input, or an answer (413, 400). 0 when the body is ready. */
static int take_body(lgmsd_server *s, srv_request *r) {
    if (r->up.over_budget) {
        lgmsd_metrics_reject(LGMSD_REJECT_BODY_BUDGET);
        unavailable(r, 2, "the request bodies being received fill body_budget = %ld bytes; retry shortly",
                    "body_budget", (long)s->body_budget);
        return -1;
    }
    if (r->up.too_large) {
        lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
        api_error e;
        api_fail_limit(&e, "max_body_bytes", "body exceeds max_body_bytes = %llu",
                       (unsigned long long)s->cfg->max_body_bytes);
        srv_reply_error(r, &e, 0);
        return -1;
    }
    if (lgmsd_upload_finish(&r->up, &r->opts)) {
        srv_reply_fail(r, API_BAD_REQUEST, "%s", r->up.detail);
        return -1;
    }
    r->body = lgmsd_upload_take(&r->up, &r->body_len);
    if (!r->body_len) {
        srv_reply_fail(r, API_BAD_REQUEST, "the request carries no image bytes");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- POST .../segment */

static void segment_begin(lgmsd_server *s, srv_request *r) { accept_upload(s, r, 0); }

static void segment_body(lgmsd_server *s, srv_request *r) {
    if (take_body(s, r)) return;
    r->task.run = lgmsd_run_image_task;
    r->task.enqueued_at = lgms_now();
    r->state = REQ_QUEUED;
    if (lgmsd_pool_submit(s->pool, &r->task)) {
        r->state = REQ_RECEIVING;
        lgmsd_metrics_reject(LGMSD_REJECT_QUEUE_FULL);
        unavailable(r, 1, "all workers are busy and the queue is full (queue = %ld)", "queue", s->cfg->queue);
    }
}

static void segment_done(lgmsd_server *s, srv_request *r) {
    (void)s;
    if (r->err.status) {
        srv_reply_error(r, &r->err, 1);
        return;
    }
    srv_reply_body(r, 200, r->out_ctype ? r->out_ctype : "application/json", r->out, r->out_len, 1);
    r->out = NULL;
}

/* ---------------------------------------------------------------- volume jobs */

/* The store's answer as the reply. */
static void store_reply(lgmsd_server *s, srv_request *r) {
    (void)s;
    lgmsd_store_call *c = &r->call;
    if (c->err.status) {
        srv_reply_error(r, &c->err, c->retry_after);
        return;
    }
    srv_reply_body(r, c->status, "application/json", c->body ? c->body : (char *)"", c->body ? c->len : 0,
                   c->body != NULL);
    c->body = NULL;
    if (c->op == LGMSD_STORE_CREATE) srv_reply_header(r, "Location", "/v1/jobs/%s", c->id);
}

static void run_store_task(lgmsd_task *t, void *thread) {
    srv_request *r = (srv_request *)t;
    r->srv->store->call(r->srv, &r->call, thread);
}

/* Make the call: on the loop now (memory), or on the store's threads (redis; the
 * transport suspends the connection until it comes back). */
static void store_dispatch(lgmsd_server *s, srv_request *r) {
    const char *why;
    if (!s->store->blocking) {
        s->store->call(s, &r->call, NULL);
        store_reply(s, r);
        return;
    }
    if (!s->store->up(s, &why)) { /* known down: answer at once, the store reconnects on its own */
        api_fail(&r->call.err, API_UNAVAILABLE, "%s", why);
        r->call.retry_after = 2;
        store_reply(s, r);
        return;
    }
    r->task.run = run_store_task;
    r->task.enqueued_at = lgms_now();
    r->state = REQ_QUEUED;
    if (lgmsd_pool_submit(s->store_pool, &r->task)) {
        r->state = REQ_RECEIVING;
        api_fail(&r->call.err, API_UNAVAILABLE, "the job store has %d calls waiting already", LGMSD_STORE_QUEUE);
        r->call.retry_after = 1;
        store_reply(s, r);
    }
}

static void volumes_begin(lgmsd_server *s, srv_request *r) { accept_upload(s, r, 1); }

static void volumes_body(lgmsd_server *s, srv_request *r) {
    if (take_body(s, r)) return;
    /* the header alone says whether the volume fits the limits: refuse before a job exists */
    api_volume_limits limits = {s->cfg->max_voxels, s->cfg->max_grid_voxels, s->cfg->max_patches};
    api_volume_plan plan;
    api_error e;
    if (api_volume_check(lgms_model_meta(s->models[r->model_index].model), r->body, r->body_len, &limits, &plan, &e)) {
        if (e.status == API_TOO_LARGE) lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
        srv_reply_error(r, &e, 0);
        return;
    }
    lgmsd_store_call *c = &r->call;
    c->op = LGMSD_STORE_CREATE;
    memcpy(c->owner, r->key_id, sizeof c->owner);
    c->model_index = r->model_index;
    c->upload = r->body, c->upload_len = r->body_len;
    r->body = NULL, r->body_len = 0;
    c->limits = limits;
    store_dispatch(s, r);
}

/* GET and DELETE /v1/jobs/{id}, GET /v1/jobs: answered with the headers from the memory
 * store, or once the (empty) body is in from a blocking one (the transport can only
 * suspend a connection from that call on). */
static void job_call(lgmsd_server *s, srv_request *r) {
    lgmsd_store_call *c = &r->call;
    c->op = r->route.id == API_ROUTE_JOBS  ? LGMSD_STORE_LIST
            : !strcmp(r->method, "DELETE") ? LGMSD_STORE_DELETE
                                           : LGMSD_STORE_GET;
    snprintf(c->id, sizeof c->id, "%.32s", r->route.id == API_ROUTE_JOB ? r->route.job : "");
    memcpy(c->owner, r->key_id, sizeof c->owner);
    store_dispatch(s, r);
}

static void job_begin(lgmsd_server *s, srv_request *r) {
    if (!s->store->blocking) job_call(s, r);
}

static void job_body(lgmsd_server *s, srv_request *r) {
    if (!r->reply.status) job_call(s, r);
}

/* ---------------------------------------------------------------- the table */

static const route_handler handlers[API_ROUTE_COUNT] = {
    [API_ROUTE_SEGMENT] = {NEEDS_KEY | NOT_DRAINING | MODEL_2D, segment_begin, segment_body, segment_done},
    [API_ROUTE_VOLUMES] = {NEEDS_KEY | NOT_DRAINING | MODEL_3D, volumes_begin, volumes_body, store_reply},
    [API_ROUTE_MODELS] = {NEEDS_KEY, get_models, NULL, NULL},
    [API_ROUTE_JOB] = {NEEDS_KEY, job_begin, job_body, store_reply},
    [API_ROUTE_JOBS] = {NEEDS_KEY, job_begin, job_body, store_reply},
    [API_ROUTE_HEALTHZ] = {0, get_healthz, NULL, NULL},
    [API_ROUTE_READYZ] = {0, get_readyz, NULL, NULL},
    [API_ROUTE_METRICS] = {0, get_metrics, NULL, NULL},
    [API_ROUTE_OPENAPI] = {0, get_openapi, NULL, NULL},
    [API_ROUTE_PREFLIGHT] = {0, preflight, NULL, NULL},
    [API_ROUTE_UI] = {0, get_ui, NULL, NULL},
};

/* The Origin header when it is on the cors_origins list. */
static void allowed_origin(lgmsd_server *s, srv_request *r) {
    const char *origin = srv_header(r, "Origin");
    const char *list = s->cfg->cors_origins;
    size_t n = origin ? strlen(origin) : 0;
    if (!n || n >= sizeof r->origin || !list[0]) return;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t k = strcspn(p, ", ");
        if ((k == n && !strncmp(p, origin, n)) || (k == 1 && *p == '*')) {
            memcpy(r->origin, origin, n + 1);
            return;
        }
        p += k;
    }
}

static int find_model(lgmsd_server *s, const char *name) {
    if (!name[0]) return s->default_index;
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, name)) return i;
    return -1;
}

void lgmsd_route_begin(lgmsd_server *s, srv_request *r, const char *method, const char *url) {
    api_route_match(method, url, &r->route);
    allowed_origin(s, r);
    if (r->route.id == API_ROUTE_NOT_FOUND) {
        srv_reply_fail(r, API_NOT_FOUND, "no route %.120s (see GET /openapi.json)", url);
        return;
    }
    if (r->route.id == API_ROUTE_METHOD_NOT_ALLOWED) {
        srv_reply_fail(r, API_NOT_ALLOWED, "%.10s is not allowed on %.120s (allowed: %s)", method, url, r->route.allow);
        return;
    }
    const route_handler *h = &handlers[r->route.id];
    if (h->policy & NEEDS_KEY && s->keys.n) {
        int k = lgmsd_keys_check(&s->keys, srv_header(r, "Authorization"));
        if (k < 0) {
            srv_reply_fail(r, API_UNAUTHORIZED, "a valid API key is required: Authorization: Bearer <key>");
            return;
        }
        memcpy(r->key_id, s->keys.ids[k], sizeof r->key_id);
    }
    if (h->policy & NOT_DRAINING && s->draining) {
        lgmsd_metrics_reject(LGMSD_REJECT_DRAINING);
        {
            srv_reply_fail(r, API_UNAVAILABLE, "the server is shutting down; retry on another replica");
            return;
        }
    }
    if (h->policy & (MODEL_2D | MODEL_3D)) {
        r->model_index = find_model(s, r->route.model);
        if (r->model_index < 0) {
            srv_reply_fail(r, API_NOT_FOUND, "no model named '%s' (see GET /v1/models)", r->route.model);
            return;
        }
        const char *name = s->models[r->model_index].name;
        int is3d = lgms_model_meta(s->models[r->model_index].model)->spatial_dims == 3;
        if (is3d && h->policy & MODEL_2D) {
            srv_reply_fail(r, API_UNPROCESSABLE, "model '%s' is 3-D: POST volumes to /v1/models/%s/volumes", name,
                           name);
            return;
        }
        if (!is3d && h->policy & MODEL_3D) {
            srv_reply_fail(r, API_UNPROCESSABLE, "model '%s' is 2-D: POST images to /v1/models/%s/segment", name, name);
            return;
        }
    }
    h->begin(s, r);
}

void lgmsd_route_body(lgmsd_server *s, srv_request *r) {
    const route_handler *h = &handlers[r->route.id];
    if (h->body)
        h->body(s, r);
    else if (!r->reply.status)
        srv_reply_fail(r, API_INTERNAL, "route %s takes no body", api_route_label(r->route.id));
}

void lgmsd_route_done(lgmsd_server *s, srv_request *r) {
    const route_handler *h = &handlers[r->route.id];
    if (h->done)
        h->done(s, r);
    else
        srv_reply_fail(r, API_INTERNAL, "the worker produced no reply");
}

void lgmsd_request_free(srv_request *r) {
    lgmsd_upload_free(&r->up);
    lgmsd_store_call_free(&r->call);
    free(r->body);
    free(r->out);
    srv_reply_free(&r->reply);
    free(r);
}
