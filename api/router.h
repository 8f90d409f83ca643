/* router.h - the HTTP API v1 route table: method + path -> route, or 404 / 405. */
#ifndef LGMS_API_ROUTER_H
#define LGMS_API_ROUTER_H

#include <stddef.h>

typedef enum {
    API_ROUTE_SEGMENT = 0, /* POST /v1/segment and POST /v1/models/{name}/segment */
    API_ROUTE_MODELS,      /* GET /v1/models */
    API_ROUTE_HEALTHZ,
    API_ROUTE_READYZ,
    API_ROUTE_METRICS,
    API_ROUTE_OPENAPI,
    API_ROUTE_VOLUMES,   /* POST /v1/models/{name}/volumes: start a volume job */
    API_ROUTE_JOB,       /* GET or DELETE /v1/jobs/{id} */
    API_ROUTE_JOBS,      /* GET /v1/jobs: the caller's jobs */
    API_ROUTE_PREFLIGHT, /* OPTIONS on any route (CORS preflight) */
    API_ROUTE_UI,        /* GET /, /ui/app.js, /ui/app.css: the web page */
    API_ROUTE_NOT_FOUND,
    API_ROUTE_METHOD_NOT_ALLOWED,
    API_ROUTE_COUNT
} api_route_id;

typedef struct {
    api_route_id id;
    char model[128];   /* the {name} of /v1/models/{name}/..., or "" for the default model */
    char job[40];      /* the {id} of /v1/jobs/{id} */
    const char *allow; /* the methods the path takes (405's Allow, a preflight's answer) */
    const char *path;  /* a fixed route's path as matched (the web page's asset), else NULL */
} api_route;

void api_route_match(const char *method, const char *path, api_route *out);
/* Short, fixed label of a route for metrics and logs. */
const char *api_route_label(api_route_id id);

#endif
