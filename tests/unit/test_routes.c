/* test_routes.c - the routes without a socket: requests built by hand through the request
 * seam (headers and query from tables), replies read from the struct, and a segmentation
 * run on a real pool with real workers (the three-class fixture model). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../api/image.h"
#include "../../server/routes.h"
#include "../../server/workers.h"

typedef struct {
    const char *headers[8][2];
    const char *query[8][2];
} fake_conn;

static const char *fake_header(void *conn, const char *name) {
    fake_conn *c = conn;
    for (int i = 0; i < 8 && c->headers[i][0]; i++)
        if (!strcasecmp(c->headers[i][0], name)) return c->headers[i][1];
    return NULL;
}

static void fake_query(void *conn, srv_query_fn fn, void *arg) {
    fake_conn *c = conn;
    for (int i = 0; i < 8 && c->query[i][0]; i++)
        if (!fn(arg, c->query[i][0], c->query[i][1])) return;
}

static int fake_form(void *conn, lgmsd_upload *up) {
    (void)conn, (void)up;
    return -1;
}

static const srv_conn_ops ops = {fake_header, fake_query, fake_form};

static lgmsd_config cfg;
static lgms_model *model;
static api_model_entry entry;
static lgmsd_server srv;

static void setup(void) {
    char err[512];
    lgmsd_config_defaults(&cfg);
    cfg.max_body_bytes = 100000;
    cr_assert_eq(lgms_model_load("fixtures/small-3class.lgms", &model, err, sizeof err), LGMS_OK, "%s", err);
    entry = (api_model_entry){"tri", "fixtures/small-3class.lgms", model};
    memset(&srv, 0, sizeof srv);
    srv.cfg = &cfg, srv.models = &entry, srv.n_models = 1, srv.workers = 1, srv.engine_threads = 1;
    srv.models_json = strdup("{\"models\":[]}");
    srv.models_json_len = strlen(srv.models_json);
    srv.store = &lgmsd_store_memory;
    cr_assert_eq(lgmsd_jobs_init(&srv.jobs, 2, 60), 0);
    lgmsd_pool_config pc = {
        .workers = 1, .capacity = 4, .worker_init = lgmsd_worker_init, .worker_fini = lgmsd_worker_fini, .arg = &srv};
    srv.pool = lgmsd_pool_start(&pc);
    int failed = 0;
    for (int i = 0; i < 5000 && lgmsd_pool_ready_workers(srv.pool, &failed) < 1 && !failed; i++)
        usleep(1000);
}

static void teardown(void) {
    lgmsd_pool_stop(srv.pool);
    lgmsd_jobs_free(&srv.jobs);
    lgmsd_keys_free(&srv.keys);
    free(srv.models_json);
    lgms_model_free(model);
}

static srv_request *request(fake_conn *c, const char *method, const char *url) {
    srv_request *r = calloc(1, sizeof *r);
    r->srv = &srv, r->ops = &ops, r->conn = c;
    snprintf(r->id, sizeof r->id, "t1");
    snprintf(r->method, sizeof r->method, "%s", method);
    lgmsd_upload_init(&r->up, cfg.max_body_bytes);
    lgmsd_route_begin(&srv, r, method, url);
    return r;
}

static const char *reply_header(const srv_request *r, const char *name) {
    for (int i = 0; i < r->reply.n_headers; i++)
        if (!strcasecmp(r->reply.name[i], name)) return r->reply.value[i];
    return NULL;
}

static json_t *reply_json(const srv_request *r) {
    json_error_t e;
    json_t *o = json_loadb(r->reply.body, r->reply.len, 0, &e);
    cr_assert_not_null(o, "%.*s", (int)r->reply.len, r->reply.body);
    return o;
}

TestSuite(routes, .init = setup, .fini = teardown);

Test(routes, unknown_routes_and_methods) {
    fake_conn c = {.headers = {{NULL, NULL}}};
    srv_request *r = request(&c, "GET", "/nope");
    cr_assert_eq(r->reply.status, 404);
    cr_assert_str_eq(r->reply.ctype, "application/problem+json");
    lgmsd_request_free(r);
    r = request(&c, "GET", "/v1/segment");
    cr_assert_eq(r->reply.status, 405);
    cr_assert_str_eq(reply_header(r, "Allow"), "POST");
    lgmsd_request_free(r);
    r = request(&c, "GET", "/healthz");
    cr_assert_eq(r->reply.status, 200);
    lgmsd_request_free(r);
}

Test(routes, job_routes_answer_from_the_memory_store_with_the_headers) {
    fake_conn c = {.headers = {{NULL, NULL}}};
    srv_request *r = request(&c, "GET", "/v1/jobs");
    cr_assert_eq(r->reply.status, 200, "the memory store answers at once, no task");
    cr_assert_neq(r->state, REQ_QUEUED);
    json_t *o = reply_json(r);
    cr_assert_eq(json_array_size(json_object_get(o, "jobs")), 0);
    json_decref(o);
    lgmsd_request_free(r);
    r = request(&c, "DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef");
    cr_assert_eq(r->reply.status, 404);
    lgmsd_request_free(r);
}

Test(routes, policies_apply_once_per_route) {
    char path[] = "/tmp/lgmsd-keys-XXXXXX", err[256];
    int fd = mkstemp(path);
    cr_assert(write(fd, "k1\nk2\n", 6) == 6);
    close(fd);
    cr_assert_eq(lgmsd_keys_load(&srv.keys, path, err, sizeof err), 0, "%s", err);
    unlink(path);
    fake_conn none = {.headers = {{"Content-Type", "image/png"}}};
    srv_request *r = request(&none, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 401);
    cr_assert_str_eq(reply_header(r, "WWW-Authenticate"), "Bearer");
    lgmsd_request_free(r);
    r = request(&none, "GET", "/healthz"); /* probes stay open */
    cr_assert_eq(r->reply.status, 200);
    lgmsd_request_free(r);
    fake_conn key = {.headers = {{"Content-Type", "image/png"}, {"Authorization", "Bearer k2"}}};
    r = request(&key, "POST", "/v1/models/other/segment");
    cr_assert_eq(r->reply.status, 404, "the key passed; no such model");
    cr_assert_str_eq(r->key_id, srv.keys.ids[1]);
    lgmsd_request_free(r);
    srv.draining = 1;
    r = request(&key, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 503);
    cr_assert_not_null(reply_header(r, "Retry-After"));
    lgmsd_request_free(r);
    srv.draining = 0;
    r = request(&key, "POST", "/v1/models/tri/volumes");
    cr_assert_eq(r->reply.status, 422, "a 2-D model takes no volumes");
    lgmsd_request_free(r);
}

Test(routes, uploads_refused_with_the_headers) {
    fake_conn text = {.headers = {{"Content-Type", "text/plain"}}};
    srv_request *r = request(&text, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 415);
    lgmsd_request_free(r);
    fake_conn big = {.headers = {{"Content-Type", "image/png"}, {"Content-Length", "100001"}}};
    r = request(&big, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 413);
    json_t *p = reply_json(r);
    cr_assert(strstr(json_string_value(json_object_get(p, "detail")),
                     "max_body_bytes = 100000 (set LGMSD_MAX_BODY_BYTES or --max-body-bytes)"),
              "the limit and how to change it");
    json_decref(p);
    lgmsd_request_free(r);
    fake_conn opt = {.headers = {{"Content-Type", "image/png"}}, .query = {{"threshold", "2"}}};
    r = request(&opt, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 400);
    lgmsd_request_free(r);
    fake_conn cors = {.headers = {{"Origin", "https://app.example.org"}}};
    cfg.cors_origins[0] = 0;
    r = request(&cors, "OPTIONS", "/v1/segment");
    cr_assert_eq(r->reply.status, 204);
    cr_assert_str_eq(r->origin, "", "no allow-list: no CORS");
    lgmsd_request_free(r);
    snprintf(cfg.cors_origins, sizeof cfg.cors_origins, "https://other.org, https://app.example.org");
    r = request(&cors, "OPTIONS", "/v1/segment");
    cr_assert_str_eq(r->origin, "https://app.example.org");
    cr_assert_str_eq(reply_header(r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
    lgmsd_request_free(r);
}

Test(routes, a_segmentation_runs_on_the_pool_and_comes_back_as_json) {
    uint8_t px[40 * 30];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    uint8_t *png;
    size_t len;
    cr_assert_eq(api_png_encode(px, 40, 30, 1, &png, &len), 0);
    fake_conn c = {.headers = {{"Content-Type", "image/png"}}, .query = {{"outputs", "mask"}}};
    srv_request *r = request(&c, "POST", "/v1/segment");
    cr_assert_eq(r->reply.status, 0, "accepted, waiting for the body");
    cr_assert_eq(lgmsd_upload_feed(&r->up, (const char *)png, len), 0);
    lgmsd_route_body(&srv, r);
    cr_assert_eq(r->state, REQ_QUEUED);
    lgmsd_task *t = NULL;
    for (int i = 0; i < 10000 && !t; i++) {
        t = lgmsd_pool_take_done(srv.pool);
        if (!t) usleep(1000);
    }
    cr_assert_eq((void *)t, (void *)r, "the task came back");
    r->state = REQ_DONE;
    lgmsd_route_done(&srv, r);
    cr_assert_eq(r->reply.status, 200, "%.*s", (int)r->reply.len, r->reply.body);
    json_t *o = reply_json(r);
    cr_assert_eq(json_integer_value(json_object_get(o, "width")), 40);
    cr_assert_not_null(json_object_get(o, "mask"));
    cr_assert_null(json_object_get(o, "overlay"), "outputs=mask from the query");
    json_decref(o);
    lgmsd_request_free(r);
    free(png);
}
