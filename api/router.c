/* router.c - match a request line against the v1 routes. */
#include "router.h"

#include <string.h>

static int is_get(const char *m) { return !strcmp(m, "GET") || !strcmp(m, "HEAD"); }

/* {name} and {id}: 1..127 characters of [A-Za-z0-9._-], not "." or ".." */
static int valid_name(const char *s, size_t n) {
    if (n == 0 || n >= 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return !(n <= 2 && s[0] == '.');
}

/* The route a path names and the methods it takes, whatever the method asked. */
static int match_path(const char *path, api_route *out, int *post_only, int *deletable) {
    static const struct {
        const char *path;
        api_route_id id;
        int post;
    } fixed[] = {{"/v1/segment", API_ROUTE_SEGMENT, 1},   {"/v1/models", API_ROUTE_MODELS, 0},
                 {"/v1/jobs", API_ROUTE_JOBS, 0},         {"/healthz", API_ROUTE_HEALTHZ, 0},
                 {"/readyz", API_ROUTE_READYZ, 0},        {"/metrics", API_ROUTE_METRICS, 0},
                 {"/openapi.json", API_ROUTE_OPENAPI, 0}, {"/", API_ROUTE_UI, 0},
                 {"/ui/app.js", API_ROUTE_UI, 0},         {"/ui/app.css", API_ROUTE_UI, 0}};
    *deletable = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(path, fixed[i].path)) {
            out->id = fixed[i].id;
            out->path = fixed[i].path;
            *post_only = fixed[i].post;
            return 1;
        }
    static const char prefix[] = "/v1/models/";
    static const struct {
        const char *suffix;
        api_route_id id;
    } per_model[] = {{"/segment", API_ROUTE_SEGMENT}, {"/volumes", API_ROUTE_VOLUMES}};
    size_t n = strlen(path), pl = sizeof prefix - 1;
    for (size_t i = 0; i < sizeof per_model / sizeof per_model[0]; i++) {
        size_t sl = strlen(per_model[i].suffix);
        if (n > pl + sl && !strncmp(path, prefix, pl) && !strcmp(path + n - sl, per_model[i].suffix) &&
            valid_name(path + pl, n - pl - sl)) {
            memcpy(out->model, path + pl, n - pl - sl);
            out->model[n - pl - sl] = 0;
            out->id = per_model[i].id;
            *post_only = 1;
            return 1;
        }
    }
    static const char jobs[] = "/v1/jobs/";
    size_t jl = sizeof jobs - 1;
    if (n > jl && n - jl < sizeof out->job && !strncmp(path, jobs, jl) && valid_name(path + jl, n - jl)) {
        memcpy(out->job, path + jl, n - jl + 1);
        out->id = API_ROUTE_JOB;
        *post_only = 0;
        *deletable = 1;
        return 1;
    }
    return 0;
}

void api_route_match(const char *method, const char *path, api_route *out) {
    int post_only, deletable;
    out->model[0] = 0;
    out->job[0] = 0;
    out->allow = NULL;
    out->path = NULL;
    if (!match_path(path, out, &post_only, &deletable)) {
        out->id = API_ROUTE_NOT_FOUND;
        return;
    }
    out->allow = post_only ? "POST" : deletable ? "GET, HEAD, DELETE" : "GET, HEAD";
    if (!strcmp(method, "OPTIONS")) {
        out->id = API_ROUTE_PREFLIGHT;
        return;
    }
    int ok = post_only ? !strcmp(method, "POST") : is_get(method) || (deletable && !strcmp(method, "DELETE"));
    if (!ok) out->id = API_ROUTE_METHOD_NOT_ALLOWED;
}

const char *api_route_label(api_route_id id) {
    static const char *labels[API_ROUTE_COUNT] = {"segment", "models",   "healthz",  "readyz", "metrics",
                                                  "openapi", "volumes",  "job",      "jobs",   "preflight",
                                                  "ui",      "notfound", "badmethod"};
    return id < API_ROUTE_COUNT ? labels[id] : "unknown";
}
