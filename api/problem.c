/* problem.c - problem+json bodies (jansson). */
#include "problem.h"

#include <jansson.h>
#include <stdlib.h>

const char *api_status_title(int status) {
    switch (status) {
    case 400: return "Bad request";
    case 401: return "Unauthorized";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 408: return "Request timeout";
    case 413: return "Request body too large";
    case 415: return "Unsupported media type";
    case 422: return "Unprocessable image";
    case 429: return "Too many requests";
    case 500: return "Internal server error";
    case 503: return "Service unavailable";
    default: return "Error";
    }
}

char *api_problem_json(int status, const char *detail, const char *request_id) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "type", json_string("about:blank"));
    json_object_set_new(o, "title", json_string(api_status_title(status)));
    json_object_set_new(o, "status", json_integer(status));
    if (detail) json_object_set_new(o, "detail", json_string(detail));
    if (request_id) json_object_set_new(o, "request_id", json_string(request_id));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
