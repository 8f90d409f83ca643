/* status.c - api_status to HTTP, and problem+json bodies (jansson). */
#include "status.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

static api_status fill(api_error *e, api_status st, const char *setting, const char *fmt, va_list ap) {
    e->status = st;
    e->setting = setting;
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    return st;
}

api_status api_fail(api_error *e, api_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fill(e, st, NULL, fmt, ap);
    va_end(ap);
    return st;
}

api_status api_fail_limit(api_error *e, const char *setting, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fill(e, API_TOO_LARGE, setting, fmt, ap);
    va_end(ap);
    return API_TOO_LARGE;
}

int api_http_status(api_status st) {
    static const int http[API_STATUS_COUNT] = {200, 400, 401, 404, 405, 413, 415, 422, 503, 499, 500};
    return (unsigned)st < API_STATUS_COUNT ? http[st] : 500;
}

const char *api_http_title(int status) {
    switch (status) {
    case 400: return "Bad request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 408: return "Request timeout";
    case 413: return "Content too large";
    case 415: return "Unsupported media type";
    case 422: return "Unprocessable content";
    case 429: return "Too many requests";
    case 500: return "Internal server error";
    case 503: return "Service unavailable";
    default: return "Error";
    }
}

char *api_problem_json(int status, const char *detail, const char *hint, const char *request_id) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "type", json_string("about:blank"));
    json_object_set_new(o, "title", json_string(api_http_title(status)));
    json_object_set_new(o, "status", json_integer(status));
    if (detail) {
        char text[768];
        snprintf(text, sizeof text, hint ? "%s (%s)" : "%s", detail, hint);
        json_object_set_new(o, "detail", json_string(text));
    }
    if (request_id) json_object_set_new(o, "request_id", json_string(request_id));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
