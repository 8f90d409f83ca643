/* problem.h - RFC 9457 application/problem+json error bodies. */
#ifndef LGMS_API_PROBLEM_H
#define LGMS_API_PROBLEM_H

/* A malloc'ed problem+json document: type about:blank, the status's title, detail and
 * (if not NULL) the request id. */
char *api_problem_json(int status, const char *detail, const char *request_id);
const char *api_status_title(int status);

#endif
