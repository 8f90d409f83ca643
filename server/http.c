/* http.c - libmicrohttpd driven by a libuv loop; requests, the worker pool, drain.
 *
 * Threads: the loop thread runs libuv and every MHD call; it parses requests but never
 * computes. A segmentation request is turned into a task on the bounded pool and its
 * connection suspended; the worker runs the whole pipeline (decode .. JSON) and hands
 * the task back through a locked list + uv_async; the loop thread resumes the
 * connection, calls MHD_run (libmicrohttpd sends nothing until it is run again) and
 * queues the reply. See docs/architecture.md for why this shape and the pitfalls. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../api/openapi.h"
#include "../api/problem.h"
#include "../api/request.h"
#include "../api/router.h"
#include "../api/segment.h"
#include "auth.h"
#include "cpus.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "upload.h"

#define CONNECTION_MEMORY_LIMIT (64 * 1024)

typedef enum { FORM_NONE, FORM_RAW, FORM_MULTIPART, FORM_JSON } body_form;
typedef enum { REQ_RECEIVING, REQ_QUEUED, REQ_DONE, REQ_ANSWERED } req_state;

typedef struct server server;

typedef struct {
    lgmsd_task task; /* first member: the pool hands it back */
    server *srv;
    struct MHD_Connection *conn;
    char id[48], method[12];
    api_route route;
    req_state state;
    double t_start;
    body_form form;
    lgmsd_upload up;
    uint8_t *image; /* the image bytes handed to the worker */
    size_t image_len;
    unsigned long long bytes_out;
    int bad_query;
    char bad_detail[256];
    int model_index;
    api_options opts;
    api_segment_job job;
    int status;
} request;

typedef struct {
    api_segment_ctx *ctx[LGMSD_MAX_MODELS]; /* 2-D models */
    lgms_state *vol[LGMSD_MAX_MODELS];      /* 3-D models: engine states for volume patches */
} worker_local;

/* One open connection, for the read deadline: MHD's own timeout only closes a connection
 * that is silent, so a client trickling a byte a second would hold it for ever. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    struct MHD_Connection *conn;
    request *req;         /* the request being received or answered, or NULL between requests */
    double reading_since; /* connection opened, or the previous request finished */
} conn_track;

struct server {
    const lgmsd_config *cfg;
    const api_model_entry *models;
    int n_models, default_index, workers, engine_threads;
    uv_loop_t loop;
    uv_poll_t poll;
    uv_timer_t mhd_timer, drain_timer, read_timer;
    conn_track *conns;
    uv_async_t async;
    uv_signal_t sigterm, sigint;
    struct MHD_Daemon *mhd;
    int listen_fd;
    lgmsd_pool *pool;
    lgmsd_jobs jobs;
    lgmsd_keys keys;
    char *models_json;
    size_t models_json_len;
    int draining, stopped, exit_code;
    long inflight;
    double drain_deadline;
    unsigned long long seq;
    unsigned id_salt;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- MHD <-> libuv */

static void mhd_rearm(server *s);

static void mhd_drive(server *s) {
    if (!s->mhd) return;
    MHD_run(s->mhd);
    mhd_rearm(s);
}

static void on_mhd_timer(uv_timer_t *t) { mhd_drive(t->data); }

static void on_mhd_poll(uv_poll_t *p, int status, int events) {
    (void)status, (void)events;
    mhd_drive(p->data);
}

static void mhd_rearm(server *s) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->mhd_timer, on_mhd_timer, ms > 60000 ? 60000 : ms, 0);
    else
        uv_timer_start(&s->mhd_timer, on_mhd_timer, 1000, 0);
}

/* ---------------------------------------------------------------- replies */

static enum MHD_Result reply(request *r, int status, const char *ctype, char *body, size_t len, int owned,
                             const char *hname, const char *hvalue) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname) MHD_add_response_header(resp, hname, hvalue);
    if (r->srv->draining) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->bytes_out = len;
    r->state = REQ_ANSWERED;
    return ret;
}

static enum MHD_Result reply_problem_h(request *r, int status, const char *detail, const char *hname,
                                       const char *hvalue) {
    char *body = api_problem_json(status, detail, r->id);
    if (!body) return MHD_NO;
    return reply(r, status, "application/problem+json", body, strlen(body), 1, hname, hvalue);
}

static enum MHD_Result reply_problem(request *r, int status, const char *detail) {
    return reply_problem_h(r, status, detail, NULL, NULL);
}

static enum MHD_Result reply_unavailable(request *r, const char *detail) {
    return reply_problem_h(r, 503, detail, MHD_HTTP_HEADER_RETRY_AFTER, "1");
}

/* ---------------------------------------------------------------- readiness, simple routes */

static int is_ready(server *s, const char **why) {
    int failed = 0, ready = lgmsd_pool_ready_workers(s->pool, &failed);
    if (s->draining) return *why = "draining", 0;
    if (failed) return *why = "a worker failed to start", 0;
    if (ready < s->workers) return *why = "warming up", 0;
    int queued, busy;
    lgmsd_pool_load(s->pool, &queued, &busy);
    if (queued >= s->cfg->queue) return *why = "queue full", 0;
    return *why = "ready", 1;
}

static enum MHD_Result answer_get(server *s, request *r) {
    static char ok_body[] = "{\"status\":\"ok\"}";
    char buf[160];
    switch (r->route.id) {
    case API_ROUTE_HEALTHZ: return reply(r, 200, "application/json", ok_body, sizeof ok_body - 1, 0, NULL, NULL);
    case API_ROUTE_READYZ: {
        const char *why;
        int ok = is_ready(s, &why);
        lgmsd_metrics_set_ready(ok);
        int n = snprintf(buf, sizeof buf, "{\"status\":\"%s\"}", why);
        char *body = strdup(buf);
        if (!body) return MHD_NO;
        return reply(r, ok ? 200 : 503, "application/json", body, (size_t)n, 1, ok ? NULL : MHD_HTTP_HEADER_RETRY_AFTER,
                     ok ? NULL : "1");
    }
    case API_ROUTE_METRICS: {
        int queued, busy;
        lgmsd_pool_load(s->pool, &queued, &busy);
        lgmsd_metrics_set_queue(queued, busy);
        size_t len;
        char *body = lgmsd_metrics_render(&len);
        if (!body) return MHD_NO;
        return reply(r, 200, "text/plain; version=0.0.4", body, len, 1, NULL, NULL);
    }
    case API_ROUTE_OPENAPI: {
        const char *doc = api_openapi_json();
        return reply(r, 200, "application/json", (char *)doc, strlen(doc), 0, NULL, NULL);
    }
    case API_ROUTE_MODELS: return reply(r, 200, "application/json", s->models_json, s->models_json_len, 0, NULL, NULL);
    default: return reply_problem(r, 500, "unhandled route");
    }
}

/* ---------------------------------------------------------------- request bodies */

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    request *r = cls;
    if (r->bad_query) return MHD_NO;
    if (api_options_set(&r->opts, key, value, r->bad_detail, sizeof r->bad_detail)) {
        r->bad_query = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static body_form form_of(const char *ctype) {
    if (!ctype) return FORM_NONE;
    size_t n = strcspn(ctype, "; \t");
    if (n == 19 && !strncasecmp(ctype, "multipart/form-data", n)) return FORM_MULTIPART;
    if (n == 16 && !strncasecmp(ctype, "application/json", n)) return FORM_JSON;
    if ((n == 9 && !strncasecmp(ctype, "image/png", n)) || (n == 10 && !strncasecmp(ctype, "image/jpeg", n)) ||
        (n == 9 && !strncasecmp(ctype, "image/jpg", n)) ||
        (n == 24 && !strncasecmp(ctype, "application/octet-stream", n)))
        return FORM_RAW;
    return FORM_NONE;
}

/* ---------------------------------------------------------------- jobs */

static void run_segment_task(lgmsd_task *t, void *local) {
    request *r = (request *)t;
    server *s = r->srv;
    double waited = now_s() - t->enqueued_at;
    r->job.queue_ms = waited * 1e3;
    if (waited > s->cfg->request_timeout) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the request waited %.1f s for a worker, longer than request_timeout = %d s "
                 "(set LGMSD_REQUEST_TIMEOUT or --request-timeout)",
                 waited, s->cfg->request_timeout);
        r->job.status = 503;
        r->job.body = api_problem_json(503, detail, r->id);
        r->job.body_len = r->job.body ? strlen(r->job.body) : 0;
        lgmsd_metrics_reject(LGMSD_REJECT_TIMEOUT);
        return;
    }
    worker_local *w = local;
    api_segment_run(&r->job, w->ctx[r->model_index]);
    lgmsd_metrics_job(waited, r->job.status == 200 ? r->job.t.inference / 1e3 : -1);
}

static enum MHD_Result submit_segment(server *s, request *r) {
    r->job.image = r->image;
    r->job.image_len = r->image_len;
    r->job.opts = r->opts;
    r->job.max_pixels = s->cfg->max_pixels;
    r->job.model_name = s->models[r->model_index].name;
    r->job.request_id = r->id;
    r->task.run = run_segment_task;
    r->task.enqueued_at = now_s();
    r->state = REQ_QUEUED;
    if (lgmsd_pool_submit(s->pool, &r->task)) {
        r->state = REQ_RECEIVING;
        lgmsd_metrics_reject(LGMSD_REJECT_QUEUE_FULL);
        char detail[160];
        snprintf(detail, sizeof detail,
                 "all workers are busy and the queue is full (queue = %d; set LGMSD_QUEUE or --queue)", s->cfg->queue);
        return reply_unavailable(r, detail);
    }
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

static void on_async(uv_async_t *a) {
    server *s = a->data;
    for (lgmsd_task *t = lgmsd_pool_take_done(s->pool), *next; t; t = next) {
        next = t->next;
        if (t->long_running) { /* a volume job: clients poll it, nothing to resume */
            lgmsd_jobs_returned((lgmsd_job *)t);
            continue;
        }
        request *r = (request *)t;
        r->state = REQ_DONE;
        MHD_resume_connection(r->conn);
    }
    mhd_drive(s);
}

static void notify_loop(void *arg) { uv_async_send(&((server *)arg)->async); }

/* ---------------------------------------------------------------- volume jobs */

static void run_job_task(lgmsd_task *t, void *local) {
    lgmsd_job *job = (lgmsd_job *)t;
    worker_local *w = local;
    lgmsd_job_run(job, w->vol[job->model_index], local);
}

static enum MHD_Result submit_job(server *s, request *r) {
    if (s->draining) return reply_unavailable(r, "the server is shutting down; retry on another replica");
    /* the header alone says whether the volume fits the limits: refuse before a job exists */
    api_volume_limits limits = {s->cfg->max_voxels, s->cfg->max_grid_voxels, s->cfg->max_patches};
    api_volume_plan plan;
    char err[512];
    int st = api_volume_check(lgms_model_meta(s->models[r->model_index].model), r->image, r->image_len, &limits, &plan,
                              err, sizeof err);
    if (st) {
        if (st == 413) lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
        return reply_problem(r, st, err);
    }
    lgmsd_job *job = lgmsd_jobs_add(&s->jobs, now_s());
    if (!job) {
        char detail[200];
        snprintf(detail, sizeof detail,
                 "the job table is full (max_jobs = %d; finished jobs are kept job_ttl = %d s; set LGMSD_MAX_JOBS)",
                 s->cfg->max_jobs, s->cfg->job_ttl);
        return reply_unavailable(r, detail);
    }
    job->model_index = r->model_index;
    job->model = s->models[r->model_index].model;
    snprintf(job->model_name, sizeof job->model_name, "%s", s->models[r->model_index].name);
    job->upload = r->image, job->upload_len = r->image_len;
    r->image = NULL, r->image_len = 0;
    job->limits = limits;
    job->pool = s->pool;
    job->task.run = run_job_task;
    job->task.long_running = 1;
    job->task.enqueued_at = now_s();
    if (lgmsd_pool_submit(s->pool, &job->task)) {
        lgmsd_jobs_forget(job);
        lgmsd_metrics_reject(LGMSD_REJECT_QUEUE_FULL);
        return reply_unavailable(r, "all workers are busy and the queue is full (set LGMSD_QUEUE or --queue)");
    }
    job->in_pool = 1;
    char location[80];
    snprintf(location, sizeof location, "/v1/jobs/%s", job->id);
    size_t len;
    char *body = lgmsd_job_json(job, now_s(), &len);
    if (!body) return MHD_NO;
    return reply(r, 202, "application/json", body, len, 1, MHD_HTTP_HEADER_LOCATION, location);
}

static enum MHD_Result answer_job(server *s, request *r, const char *method) {
    lgmsd_job *job = lgmsd_jobs_find(&s->jobs, r->route.job);
    if (!job) {
        char detail[160];
        snprintf(detail, sizeof detail, "no job %.40s (finished jobs are kept job_ttl = %d s)", r->route.job,
                 s->cfg->job_ttl);
        return reply_problem(r, 404, detail);
    }
    int state = atomic_load(&job->state);
    if (!strcmp(method, "DELETE")) {
        if (state == LGMSD_JOB_QUEUED || state == LGMSD_JOB_RUNNING) {
            atomic_store(&job->cancel, 1); /* the worker stops after the current patch */
        } else {
            lgmsd_jobs_forget(job);
            return reply(r, 204, "application/json", (char *)"", 0, 0, NULL, NULL);
        }
    }
    size_t len;
    char *body = lgmsd_job_json(job, now_s(), &len);
    if (!body) return MHD_NO;
    return reply(r, strcmp(method, "DELETE") ? 200 : 202, "application/json", body, len, 1, NULL, NULL);
}

/* ---------------------------------------------------------------- the access handler */

static enum MHD_Result on_first_call(server *s, request *r, struct MHD_Connection *conn, const char *url,
                                     const char *method) {
    api_route_match(method, url, &r->route);
    switch (r->route.id) {
    case API_ROUTE_NOT_FOUND: {
        char detail[200];
        snprintf(detail, sizeof detail, "no route %.120s (see GET /openapi.json)", url);
        return reply_problem(r, 404, detail);
    }
    case API_ROUTE_METHOD_NOT_ALLOWED: {
        char detail[200];
        snprintf(detail, sizeof detail, "%.10s is not allowed on %.120s (allowed: %s)", method, url, r->route.allow);
        return reply_problem_h(r, 405, detail, MHD_HTTP_HEADER_ALLOW, r->route.allow);
    }
    case API_ROUTE_SEGMENT:
    case API_ROUTE_VOLUMES: break;
    case API_ROUTE_JOB:
        if (s->keys.n &&
            !lgmsd_keys_check(&s->keys, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")))
            return reply_problem_h(r, 401, "a valid API key is required: Authorization: Bearer <key>",
                                   MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return answer_job(s, r, method);
    default:
        if (r->route.id == API_ROUTE_MODELS && s->keys.n &&
            !lgmsd_keys_check(&s->keys, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")))
            return reply_problem_h(r, 401, "a valid API key is required: Authorization: Bearer <key>",
                                   MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return answer_get(s, r);
    }
    if (s->draining) {
        lgmsd_metrics_reject(LGMSD_REJECT_DRAINING);
        return reply_unavailable(r, "the server is shutting down; retry on another replica");
    }
    if (s->keys.n && !lgmsd_keys_check(&s->keys, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization")))
        return reply_problem_h(r, 401, "a valid API key is required: Authorization: Bearer <key>",
                               MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    r->model_index = s->default_index;
    if (r->route.model[0]) {
        r->model_index = -1;
        for (int i = 0; i < s->n_models; i++)
            if (!strcmp(s->models[i].name, r->route.model)) r->model_index = i;
        if (r->model_index < 0) {
            char detail[200];
            snprintf(detail, sizeof detail, "no model named '%s' (see GET /v1/models)", r->route.model);
            return reply_problem(r, 404, detail);
        }
    }
    int is3d = lgms_model_meta(s->models[r->model_index].model)->spatial_dims == 3;
    if (is3d != (r->route.id == API_ROUTE_VOLUMES)) {
        char detail[240];
        snprintf(detail, sizeof detail,
                 is3d ? "model '%s' is 3-D: POST volumes to /v1/models/%s/volumes"
                      : "model '%s' is 2-D: POST images to /v1/models/%s/segment",
                 s->models[r->model_index].name, s->models[r->model_index].name);
        return reply_problem(r, 422, detail);
    }
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->form = form_of(ctype);
    if (is3d && r->form == FORM_JSON) r->form = FORM_NONE; /* volumes come raw or as a multipart file */
    if (r->form == FORM_NONE) {
        char detail[240];
        snprintf(detail, sizeof detail,
                 "Content-Type %.60s is not accepted: send multipart/form-data (field \"image\"), image/png, "
                 "image/jpeg or application/json",
                 ctype ? ctype : "(none)");
        return reply_problem(r, 415, detail);
    }
    const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen) {
        unsigned long long n = strtoull(clen, NULL, 10);
        if (n > s->cfg->max_body_bytes) {
            lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
            char detail[200];
            snprintf(detail, sizeof detail,
                     "body of %llu bytes exceeds max_body_bytes = %llu (set LGMSD_MAX_BODY_BYTES or --max-body-bytes)",
                     n, (unsigned long long)s->cfg->max_body_bytes);
            return reply_problem(r, 413, detail);
        }
        if (r->form != FORM_MULTIPART) lgmsd_upload_reserve(&r->up, (size_t)n);
    }
    api_options_init(&r->opts);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_query_arg, r);
    if (r->bad_query) return reply_problem(r, 400, r->bad_detail);
    if (r->form == FORM_MULTIPART && lgmsd_upload_start_form(&r->up, conn)) return reply_problem(r, 400, r->up.detail);
    return MHD_YES;
}

static enum MHD_Result on_body_complete(server *s, request *r) {
    if (r->up.too_large) {
        lgmsd_metrics_reject(LGMSD_REJECT_TOO_LARGE);
        char detail[200];
        snprintf(detail, sizeof detail,
                 "body exceeds max_body_bytes = %llu (set LGMSD_MAX_BODY_BYTES or --max-body-bytes)",
                 (unsigned long long)s->cfg->max_body_bytes);
        return reply_problem(r, 413, detail);
    }
    if (lgmsd_upload_finish(&r->up, &r->opts)) return reply_problem(r, 400, r->up.detail);
    r->image = lgmsd_upload_take(&r->up, &r->image_len);
    if (r->form == FORM_JSON) {
        uint8_t *img;
        size_t img_len;
        char err[300];
        int st = api_parse_json_request((const char *)r->image, r->image_len, s->cfg->max_body_bytes, &r->opts, &img,
                                        &img_len, err, sizeof err);
        if (st) return reply_problem(r, st, err);
        free(r->image);
        r->image = img, r->image_len = img_len;
    }
    if (!r->image_len) return reply_problem(r, 400, "the request carries no image bytes");
    if (r->route.id == API_ROUTE_VOLUMES) return submit_job(s, r);
    return submit_segment(s, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    server *s = cls;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->srv = s;
        r->conn = conn;
        lgmsd_upload_init(&r->up, s->cfg->max_body_bytes);
        r->t_start = now_s();
        snprintf(r->method, sizeof r->method, "%s", method);
        const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        size_t glen = given ? strlen(given) : 0;
        if (glen && glen < sizeof r->id &&
            strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == glen)
            memcpy(r->id, given, glen + 1);
        else
            snprintf(r->id, sizeof r->id, "%08x%08llx", s->id_salt, ++s->seq);
        s->inflight++;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        conn_track *ct = ci ? ci->socket_context : NULL;
        if (ct) ct->req = r;
        return on_first_call(s, r, conn, url, method);
    }
    if (r->state == REQ_RECEIVING && *upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        return lgmsd_upload_feed(&r->up, upload_data, size) ? MHD_NO : MHD_YES;
    }
    if (r->state == REQ_RECEIVING) return on_body_complete(s, r);
    if (r->state == REQ_DONE) {
        char *body = r->job.body;
        r->job.body = NULL;
        if (!body) return reply_problem(r, 500, "the worker produced no reply");
        int st = r->job.status;
        if (st == 200) return reply(r, 200, "application/json", body, r->job.body_len, 1, NULL, NULL);
        return reply(r, st, "application/problem+json", body, r->job.body_len, 1,
                     st == 503 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL, st == 503 ? "1" : NULL);
    }
    return MHD_YES; /* already answered or queued: nothing more to do */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    server *s = cls;
    request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_track *ct = ci ? ci->socket_context : NULL;
    if (ct) ct->req = NULL, ct->reading_since = now_s(); /* the next request's clock starts */
    double total = now_s() - r->t_start;
    const char *route = api_route_label(r->route.id);
    int status = r->status ? r->status : 499; /* 499: the client went away before a reply */
    lgmsd_metrics_request(route, status, total);
    lgmsd_request_log lr = {
        .request_id = r->id,
        .method = r->method,
        .route = route,
        .model = r->route.id == API_ROUTE_SEGMENT && r->model_index >= 0 ? s->models[r->model_index].name : NULL,
        .status = status,
        .bytes_in = r->up.received,
        .bytes_out = r->bytes_out,
        .queue_ms = r->job.t.queue,
        .inference_ms = r->job.t.inference,
        .total_ms = total * 1e3,
        .width = r->job.width,
        .height = r->job.height};
    if (r->route.id != API_ROUTE_HEALTHZ && r->route.id != API_ROUTE_READYZ && r->route.id != API_ROUTE_METRICS)
        lgmsd_log_request(&lr);
    else if (lgmsd_log_enabled(LGMSD_LOG_DEBUG))
        lgmsd_log_request(&lr);
    lgmsd_upload_free(&r->up);
    free(r->image);
    free(r->job.body);
    free(r);
    s->inflight--;
}

/* ---------------------------------------------------------------- workers */

static void *worker_init(int index, void *arg) {
    server *s = arg;
    worker_local *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    for (int i = 0; i < s->n_models; i++) {
        if (lgms_model_meta(s->models[i].model)->spatial_dims == 3) { /* volumes: an engine state, sized by use */
            w->vol[i] = lgms_state_new(s->models[i].model);
            if (!w->vol[i] || lgms_state_set_threads(w->vol[i], s->engine_threads)) {
                lgmsd_log(LGMSD_LOG_ERROR, "worker %d: out of memory for model %s", index, s->models[i].name);
                goto fail;
            }
            continue;
        }
        w->ctx[i] = api_segment_ctx_new(s->models[i].model, s->engine_threads);
        if (!w->ctx[i]) {
            lgmsd_log(LGMSD_LOG_ERROR, "worker %d: out of memory for model %s", index, s->models[i].name);
            goto fail;
        }
        if (s->cfg->warmup) { /* one real inference: sizes the arena and proves the model runs */
            uint8_t px[64 * 64] = {0};
            uint8_t *labels = NULL;
            char err[256] = "";
            if (api_segment_labels(w->ctx[i], px, 64, 64, 1, 0.5f, &labels, err, sizeof err)) {
                lgmsd_log(LGMSD_LOG_ERROR, "worker %d: warm-up of model %s failed: %s", index, s->models[i].name, err);
                goto fail;
            }
            free(labels);
            lgmsd_log(LGMSD_LOG_INFO, "worker %d: model %s warm, %.1f MiB of scratch, %d engine thread(s)", index,
                      s->models[i].name, api_segment_ctx_bytes(w->ctx[i]) / 1048576.0, s->engine_threads);
        }
    }
    return w;
fail:
    for (int i = 0; i < s->n_models; i++)
        api_segment_ctx_free(w->ctx[i]), lgms_state_free(w->vol[i]);
    free(w);
    return NULL;
}

static void worker_fini(void *local, void *arg) {
    server *s = arg;
    worker_local *w = local;
    if (!w) return;
    for (int i = 0; i < s->n_models; i++)
        api_segment_ctx_free(w->ctx[i]), lgms_state_free(w->vol[i]);
    free(w);
}

/* ---------------------------------------------------------------- the read deadline */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *s = cls;
    conn_track *ct = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ct = calloc(1, sizeof *ct);
        if (!ct) return; /* untracked: only MHD's idle timeout applies to it */
        ct->conn = conn;
        ct->reading_since = now_s();
        ct->next = s->conns;
        if (s->conns) s->conns->prev = ct;
        s->conns = ct;
        *socket_context = ct;
    } else if (ct) {
        if (ct->prev)
            ct->prev->next = ct->next;
        else
            s->conns = ct->next;
        if (ct->next) ct->next->prev = ct->prev;
        free(ct);
        *socket_context = NULL;
    }
}

/* Once a second: shut the socket of every connection that has spent longer than
 * read_timeout sending one request. MHD then sees the close and frees the connection
 * (no worker was ever involved: a request reaches the pool only once fully received). */
static void on_read_tick(uv_timer_t *t) {
    server *s = t->data;
    double now = now_s();
    lgmsd_jobs_expire(&s->jobs, now); /* finished volume results past job_ttl */
    int closed = 0;
    for (conn_track *ct = s->conns; ct; ct = ct->next) {
        if (ct->req && ct->req->state != REQ_RECEIVING) continue;
        if (ct->req && ct->req->up.too_large) continue; /* already being discarded, answered 413 at the end */
        if (now - ct->reading_since <= s->cfg->read_timeout) continue;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ct->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) continue;
        shutdown(ci->connect_fd, SHUT_RDWR);
        ct->reading_since = now + 3600; /* once */
        lgmsd_metrics_reject(LGMSD_REJECT_READ_TIMEOUT);
        closed++;
    }
    if (closed) {
        lgmsd_log(LGMSD_LOG_WARN,
                  "closed %d connection(s) that took longer than read_timeout = %d s to send a request "
                  "(set LGMSD_READ_TIMEOUT or --read-timeout)",
                  closed, s->cfg->read_timeout);
        mhd_drive(s);
    }
}

/* ---------------------------------------------------------------- lifecycle */

static void close_all(server *s);

static void finish_stop(server *s) {
    if (s->stopped) return;
    s->stopped = 1;
    uv_timer_stop(&s->drain_timer);
    uv_timer_stop(&s->read_timer);
    if (s->mhd) {
        MHD_run(s->mhd);
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    close_all(s);
}

static void on_drain_tick(uv_timer_t *t) {
    server *s = t->data;
    mhd_drive(s);
    if (s->inflight == 0) {
        lgmsd_log(LGMSD_LOG_INFO, "drained: every accepted request was answered");
        finish_stop(s);
    } else if (now_s() > s->drain_deadline) {
        lgmsd_log(LGMSD_LOG_ERROR, "drain_timeout = %d s passed with %ld request(s) unanswered; exiting",
                  s->cfg->drain_timeout, s->inflight);
        fflush(stderr);
        /* libmicrohttpd aborts if stopped with suspended connections: leave without stopping it */
        _exit(1);
    }
}

static void on_signal(uv_signal_t *sig, int signum) {
    server *s = sig->data;
    if (s->draining) {
        lgmsd_log(LGMSD_LOG_WARN, "second signal %d while draining: exiting now", signum);
        fflush(stderr);
        _exit(1);
    }
    s->draining = 1;
    lgmsd_jobs_cancel_all(&s->jobs); /* volume jobs stop after their current patch */
    lgmsd_metrics_set_ready(0);
    lgmsd_log(LGMSD_LOG_INFO, "signal %d: draining %ld request(s), up to %d s", signum, s->inflight,
              s->cfg->drain_timeout);
    MHD_socket fd = MHD_quiesce_daemon(s->mhd); /* stop accepting; the listen socket is ours */
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
        s->listen_fd = -1;
    }
    s->drain_deadline = now_s() + s->cfg->drain_timeout;
    uv_timer_start(&s->drain_timer, on_drain_tick, 0, 20);
}

static void close_all(server *s) {
    uv_handle_t *handles[] = {(uv_handle_t *)&s->poll,        (uv_handle_t *)&s->mhd_timer,
                              (uv_handle_t *)&s->drain_timer, (uv_handle_t *)&s->read_timer,
                              (uv_handle_t *)&s->async,       (uv_handle_t *)&s->sigterm,
                              (uv_handle_t *)&s->sigint};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        if (!uv_is_closing(handles[i])) uv_close(handles[i], NULL);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = 0;
    lgmsd_log(LGMSD_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

static int open_listener(const lgmsd_config *cfg, int *port_out) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot resolve host %s: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 512)) {
            lgmsd_log(LGMSD_LOG_ERROR, "cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    *port_out = cfg->port;
    if (!getsockname(fd, (struct sockaddr *)&ss, &len))
        *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static char *read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    return buf;
}

int lgmsd_server_run(const lgmsd_config *cfg, const api_model_entry *models, int n_models, int default_index) {
    server *s = calloc(1, sizeof *s);
    char err[512];
    char *tls_cert = NULL, *tls_key = NULL;
    int rc = 1, port = 0;
    if (!s) return 1;
    s->cfg = cfg, s->models = models, s->n_models = n_models, s->default_index = default_index;
    s->listen_fd = -1;
    s->id_salt = (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
    int cpus = lgmsd_available_cpus(NULL);
    s->workers = cfg->workers ? cfg->workers : cpus;
    /* latency mode (fewer workers than CPUs): each inference is split over the spare CPUs */
    s->engine_threads = cfg->engine_threads ? cfg->engine_threads : (cpus / s->workers > 1 ? cpus / s->workers : 1);
    s->models_json = api_models_json(models, n_models, models[default_index].name);
    s->models_json_len = s->models_json ? strlen(s->models_json) : 0;
    if (!s->models_json) goto out;
    if (cfg->api_key_file[0] && lgmsd_keys_load(&s->keys, cfg->api_key_file, err, sizeof err)) {
        lgmsd_log(LGMSD_LOG_ERROR, "%s", err);
        goto out;
    }
    if (cfg->tls_cert[0]) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            lgmsd_log(LGMSD_LOG_ERROR, "this libmicrohttpd was built without TLS support");
            goto out;
        }
        if (!(tls_cert = read_file(cfg->tls_cert, err, sizeof err)) ||
            !(tls_key = read_file(cfg->tls_key, err, sizeof err))) {
            lgmsd_log(LGMSD_LOG_ERROR, "%s", err);
            goto out;
        }
    }
    if (uv_loop_init(&s->loop)) goto out;
    uv_async_init(&s->loop, &s->async, on_async);
    s->async.data = s;
    lgmsd_metrics_init(s->workers, cfg->queue);
    lgmsd_pool_config pc = {.workers = s->workers,
                            .capacity = cfg->queue,
                            .worker_init = worker_init,
                            .worker_fini = worker_fini,
                            .notify = notify_loop,
                            .arg = s};
    if (lgmsd_jobs_init(&s->jobs, cfg->max_jobs, cfg->job_ttl)) goto out_loop;
    s->pool = lgmsd_pool_start(&pc);
    if (!s->pool) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot start %d worker threads", s->workers);
        goto out_loop;
    }
    s->listen_fd = open_listener(cfg, &port);
    if (s->listen_fd < 0) goto out_pool;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (tls_cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {{tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert},
                                        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key},
                                        {MHD_OPTION_END, 0, NULL}};
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
                              s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!s->mhd) {
        lgmsd_log(LGMSD_LOG_ERROR, "libmicrohttpd failed to start on %s:%d", cfg->host, port);
        goto out_listen;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(&s->loop, &s->poll, info->epoll_fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_mhd_poll);
    uv_timer_init(&s->loop, &s->mhd_timer);
    s->mhd_timer.data = s;
    uv_timer_init(&s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    uv_timer_init(&s->loop, &s->read_timer);
    s->read_timer.data = s;
    uv_timer_start(&s->read_timer, on_read_tick, 1000, 1000);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    mhd_rearm(s);
    lgmsd_log(LGMSD_LOG_INFO,
              "listening on %s%s:%d (%s), %d worker(s) x %d engine thread(s), queue %d, default model %s, %s",
              cfg->host, "", port, tls_cert ? "https" : "http", s->workers, s->engine_threads, cfg->queue,
              models[default_index].name, s->keys.n ? "API keys required" : "no authentication");
    uv_run(&s->loop, UV_RUN_DEFAULT);
    rc = 0;
    goto out_pool; /* MHD is stopped by finish_stop; the listen socket was closed by quiesce */
out_listen:
    if (s->listen_fd >= 0) close(s->listen_fd);
out_pool:
    lgmsd_pool_stop(s->pool);
out_loop:
    if (rc) { /* failed start: close what was opened */
        if (!uv_is_closing((uv_handle_t *)&s->async)) uv_close((uv_handle_t *)&s->async, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&s->loop);
out:
    lgmsd_jobs_free(&s->jobs); /* the pool has stopped: no worker holds a job */
    lgmsd_keys_free(&s->keys);
    free(s->models_json);
    free(tls_cert);
    free(tls_key);
    free(s);
    return rc;
}
