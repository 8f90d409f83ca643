/* transport.h - libmicrohttpd driven by a libuv loop: one loop thread owns every MHD call.
 * MHD runs in external-event mode (MHD_USE_EPOLL, no thread of its own): its epoll
 * descriptor sits in a uv_poll_t, a uv_timer_t is re-armed from MHD_get_timeout after each
 * MHD_run. The transport knows no routes: it turns MHD's access handler calls into
 * lgmsd_route_begin / _body / _done (routes.h) and the reply they decide into a response;
 * it suspends a connection while its task is in the pool and resumes it when the worker
 * hands the task back (a locked list + uv_async_send, drained whole: sends coalesce). It
 * also enforces the read deadline: a connection must send a whole request within
 * read_timeout, however steadily it trickles. */
#ifndef LGMSD_TRANSPORT_H
#define LGMSD_TRANSPORT_H

#include <uv.h>

#include "server.h"

/* Start MHD on an open listening socket (it becomes MHD's); tls_cert/tls_key are PEM text
 * or NULL. NULL on failure (logged). */
lgmsd_transport *lgmsd_transport_start(lgmsd_server *s, uv_loop_t *loop, int listen_fd, const char *tls_cert,
                                       const char *tls_key);
/* The pool's notify callback (any thread): finished tasks are waiting. */
void lgmsd_transport_notify(void *transport);
/* Drive MHD once now (after a state change the loop should act on). */
void lgmsd_transport_drive(lgmsd_transport *t);
/* Stop accepting connections: the listening socket is closed; open connections go on. */
void lgmsd_transport_quiesce(lgmsd_transport *t);
/* Stop MHD (only when no connection is suspended: MHD aborts otherwise) and close the
 * transport's handles; the loop then ends. */
void lgmsd_transport_stop(lgmsd_transport *t);
void lgmsd_transport_free(lgmsd_transport *t);

#endif
