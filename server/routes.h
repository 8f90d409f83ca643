/* routes.h - one handler per route, behind the request seam (request.h), the way the
 * transport calls them:
 *
 *   lgmsd_route_begin  the headers are in: match the route, then apply its policies once,
 *                      in this order: CORS origin, API key (401), draining (503), model
 *                      lookup (404, 422 for the wrong kind); then the handler answers, or
 *                      accepts a body (r->form) and parses the query options (400).
 *   lgmsd_route_body   the body is complete: answer, or hand a task to the pool
 *                      (r->state = REQ_QUEUED; the transport suspends the connection).
 *   lgmsd_route_done   the task came back: turn its outcome into the reply.
 *
 * Every function leaves its decision in r->reply; none touches a socket. */
#ifndef LGMSD_ROUTES_H
#define LGMSD_ROUTES_H

#include "request.h"
#include "server.h"

void lgmsd_route_begin(lgmsd_server *s, srv_request *r, const char *method, const char *url);
void lgmsd_route_body(lgmsd_server *s, srv_request *r);
void lgmsd_route_done(lgmsd_server *s, srv_request *r);
/* Free what the request holds (body, upload, worker output, reply). */
void lgmsd_request_free(srv_request *r);

#endif
