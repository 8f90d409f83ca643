/* status.h - the api layer's one error rule: every function that can fail returns an
 * api_status and fills an api_error (what went wrong, in words a client can act on, and
 * the setting whose limit was hit, if any). This is the one place a status becomes an HTTP
 * status, a title and an application/problem+json body (RFC 9457). */
#ifndef LGMS_API_STATUS_H
#define LGMS_API_STATUS_H

#include <stddef.h>

typedef enum {
    API_OK = 0,
    API_BAD_REQUEST,   /* 400: malformed body, option or form */
    API_UNAUTHORIZED,  /* 401: an API key is required */
    API_NOT_FOUND,     /* 404: no such route, model or job */
    API_NOT_ALLOWED,   /* 405: wrong method */
    API_TOO_LARGE,     /* 413: over a limit (api_error.setting names it) */
    API_UNSUPPORTED,   /* 415: a media type or encoding we cannot read */
    API_UNPROCESSABLE, /* 422: well-formed but unusable: corrupt image, not a volume, wrong model kind */
    API_UNAVAILABLE,   /* 503: busy or shutting down; try again (Retry-After) */
    API_CANCELLED,     /* the work was cancelled (a volume job); never sent as a reply */
    API_INTERNAL,      /* 500: out of memory or a failure that input cannot cause */
    API_STATUS_COUNT
} api_status;

typedef struct {
    api_status status;
    const char *setting; /* the setting whose limit was hit (e.g. "max_pixels"), or NULL */
    char detail[512];
} api_error;

/* Fill e (detail printf-style) and return st. */
api_status api_fail(api_error *e, api_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same for a limit: detail, and e->setting = setting. */
api_status api_fail_limit(api_error *e, const char *setting, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int api_http_status(api_status st);
/* The HTTP status's title ("Unprocessable content", ...), for any status code. */
const char *api_http_title(int http_status);
/* A malloc'ed problem+json document: type about:blank, title, status, detail (plus hint,
 * when given: how to change the limit, appended by the caller that knows the settings) and
 * the request id (when not NULL). */
char *api_problem_json(int http_status, const char *detail, const char *hint, const char *request_id);

#endif
