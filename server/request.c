/* request.c - deciding a request's reply (see request.h). */
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config.h"

const char *srv_header(const srv_request *r, const char *name) { return r->ops->header(r->conn, name); }

void srv_reply_body(srv_request *r, int status, const char *ctype, char *body, size_t len, int owned) {
    if (r->reply.owned) free(r->reply.body);
    r->reply.status = status;
    r->reply.ctype = ctype;
    r->reply.body = body;
    r->reply.len = len;
    r->reply.owned = owned;
    r->state = REQ_ANSWERED;
}

void srv_reply_header(srv_request *r, const char *name, const char *fmt, ...) {
    if (r->reply.n_headers == SRV_MAX_HEADERS) return;
    int i = r->reply.n_headers++;
    r->reply.name[i] = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reply.value[i], sizeof r->reply.value[i], fmt, ap);
    va_end(ap);
}

void srv_reply_error(srv_request *r, const api_error *e, int retry_after) {
    int status = api_http_status(e->status);
    char hint[128];
    char *body = api_problem_json(status, e->detail,
                                  e->setting ? lgmsd_setting_hint(e->setting, hint, sizeof hint) : NULL, r->id);
    static char fallback[] = "{\"type\":\"about:blank\",\"status\":500}";
    if (body)
        srv_reply_body(r, status, "application/problem+json", body, strlen(body), 1);
    else
        srv_reply_body(r, 500, "application/problem+json", fallback, sizeof fallback - 1, 0);
    if (status == 503) srv_reply_header(r, "Retry-After", "%d", retry_after > 0 ? retry_after : 1);
    if (status == 401) srv_reply_header(r, "WWW-Authenticate", "Bearer");
    if (status == 405 && r->route.allow) srv_reply_header(r, "Allow", "%s", r->route.allow);
}

void srv_reply_fail(srv_request *r, api_status st, const char *fmt, ...) {
    api_error e = {.status = st};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.detail, sizeof e.detail, fmt, ap);
    va_end(ap);
    srv_reply_error(r, &e, 0);
}

void srv_reply_free(srv_reply *reply) {
    if (reply->owned) free(reply->body);
    reply->body = NULL;
    reply->owned = 0;
}
