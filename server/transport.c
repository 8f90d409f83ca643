/* transport.c - libmicrohttpd on a libuv loop (see transport.h and docs/architecture.md).
 *
 * Two facts of libmicrohttpd 0.9.75 shape the access handler:
 * - a reply queued in the first call (headers only) makes MHD close the connection after
 *   it, so every reply waits for a later call: a request without a body is called again
 *   at once, and keeps its connection (HTTP/1.1 keep-alive);
 * - a reply queued while a body is still arriving closes the connection too, and a client
 *   still sending may then see a reset instead of the reply. An early refusal (401, 413,
 *   415, ...) therefore reads and discards the body, up to DRAIN_LIMIT bytes past which it
 *   is answered at once, and is answered when the body is in. A client that announced
 *   "Expect: 100-continue" is answered at once: it waits for the verdict before sending. */
#include "transport.h"

#include <malloc.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "request.h"
#include "routes.h"

#define CONNECTION_MEMORY_LIMIT (64 * 1024)
#define DRAIN_LIMIT (16u << 20) /* body bytes an early refusal reads past, so the client sees it */
#define MAX_QUERY_ARGS 64
#define TRIM_AFTER (8u << 20) /* a request with a body or reply larger than this returns memory to the system */
/* at max_connections, a newcomer takes the place of the connection idle longest without a
 * complete request (never one younger than EVICT_MIN_AGE seconds: a real client's request
 * is on its way); libmicrohttpd may hold EVICT_RESERVE more, so that it keeps accepting
 * while the evicted ones close, and the 1 s tick makes room again when a burst filled them */
#define EVICT_RESERVE 8
#define EVICT_MIN_AGE 0.05

/* One open connection: for the read and header deadlines and for eviction. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    struct MHD_Connection *conn;
    srv_request *req;     /* the request being received or answered, or NULL between requests */
    double reading_since; /* connection opened, or the previous request finished */
    int closing;          /* shut down by us; MHD frees it on its next run */
} conn_track;

struct lgmsd_transport {
    lgmsd_server *srv;
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t mhd_timer, tick, evict_timer;
    uv_async_t async;
    struct MHD_Daemon *mhd;
    conn_track *conns;
    int n_conns, stopped;
};

/* ---------------------------------------------------------------- MHD <-> libuv */

static void rearm(lgmsd_transport *t);

void lgmsd_transport_drive(lgmsd_transport *t) {
    if (!t->mhd) return;
    int before = t->n_conns;
    MHD_run(t->mhd);
    /* libmicrohttpd takes its listen socket out of epoll at its connection limit and puts
     * it back only at the start of a later run: when connections closed in this one, run
     * again, or connections waiting to be accepted would wait for an unrelated event */
    if (t->n_conns < before) MHD_run(t->mhd);
    rearm(t);
}

static void on_mhd_timer(uv_timer_t *h) { lgmsd_transport_drive(h->data); }

static void on_mhd_poll(uv_poll_t *p, int status, int events) {
    (void)status, (void)events;
    lgmsd_transport_drive(p->data);
}

static void rearm(lgmsd_transport *t) {
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(t->mhd, &ms) == MHD_YES)
        uv_timer_start(&t->mhd_timer, on_mhd_timer, ms > 60000 ? 60000 : ms, 0);
    else
        uv_timer_start(&t->mhd_timer, on_mhd_timer, 1000, 0);
}

/* ---------------------------------------------------------------- the request seam */

static const char *conn_header(void *conn, const char *name) {
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

typedef struct {
    srv_query_fn fn;
    void *arg;
} query_adapter;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    query_adapter *q = cls;
    return q->fn(q->arg, key, value) ? MHD_YES : MHD_NO;
}

static void conn_each_query(void *conn, srv_query_fn fn, void *arg) {
    query_adapter q = {fn, arg};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, each_arg, &q);
}

static int conn_start_form(void *conn, lgmsd_upload *up) { return lgmsd_upload_start_form(up, conn); }

static const srv_conn_ops mhd_ops = {conn_header, conn_each_query, conn_start_form};

/* ---------------------------------------------------------------- protocol checks */

typedef struct {
    int content_length, transfer_encoding, bad_name, bad_value, args;
    const char *te;
} header_census;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                    const char *value, size_t value_size) {
    header_census *c = cls;
    if (kind == MHD_GET_ARGUMENT_KIND) {
        c->args++;
        return MHD_YES;
    }
    for (size_t i = 0; i < key_size; i++) /* a token: no spaces, separators or controls */
        if (key[i] <= ' ' || key[i] >= 127 || strchr("()<>@,;:\\\"/[]?={}", key[i])) c->bad_name = 1;
    if (!value || strlen(value) != value_size || strpbrk(value, "\r\n")) c->bad_value = 1;
    if (!strcasecmp(key, "Content-Length")) c->content_length++;
    if (!strcasecmp(key, "Transfer-Encoding")) c->transfer_encoding++, c->te = value;
    return MHD_YES;
}

/* What a proxy in front could read differently from us is refused (400), as nginx does:
 * two Content-Lengths, Content-Length with Transfer-Encoding, an encoding other than
 * chunked, malformed header names, NUL or line breaks in values, a flood of query arguments. */
static int protocol_error(struct MHD_Connection *conn, char *detail, size_t cap) {
    header_census c = {0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, count_header, &c);
    if (c.bad_name) return snprintf(detail, cap, "a header name is not an HTTP token"), 1;
    if (c.bad_value) return snprintf(detail, cap, "a header value holds NUL or a line break"), 1;
    if (c.content_length > 1) return snprintf(detail, cap, "more than one Content-Length"), 1;
    if (c.transfer_encoding > 1 || (c.transfer_encoding && strcasecmp(c.te, "chunked")))
        return snprintf(detail, cap, "only Transfer-Encoding: chunked is accepted"), 1;
    if (c.transfer_encoding && c.content_length)
        return snprintf(detail, cap, "Content-Length and Transfer-Encoding together"), 1;
    if (c.args > MAX_QUERY_ARGS) return snprintf(detail, cap, "more than %d query arguments", MAX_QUERY_ARGS), 1;
    return 0;
}

/* ---------------------------------------------------------------- replies */

static enum MHD_Result send_reply(lgmsd_transport *t, srv_request *r) {
    srv_reply *rp = &r->reply;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(rp->len, rp->body, rp->owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    rp->owned = 0; /* the response owns the body now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp->ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    int cache_set = 0; /* no-store unless the route says otherwise (the web page revalidates) */
    for (int i = 0; i < rp->n_headers; i++)
        cache_set |= !strcasecmp(rp->name[i], "Cache-Control");
    if (!cache_set) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < rp->n_headers; i++)
        MHD_add_response_header(resp, rp->name[i], rp->value[i]);
    if (r->origin[0]) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location, Retry-After, X-Request-Id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (t->srv->draining) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)rp->status, resp);
    MHD_destroy_response(resp);
    r->state = REQ_ANSWERED;
    r->sent = 1;
    return ret;
}

static conn_track *track_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A refusal decided with the headers: now, or once the body has been read and dropped. */
static enum MHD_Result early_reply(lgmsd_transport *t, srv_request *r) {
    const char *expect = srv_header(r, "Expect");
    const char *clen = srv_header(r, "Content-Length");
    const char *te = srv_header(r, "Transfer-Encoding");
    unsigned long long declared = clen ? strtoull(clen, NULL, 10) : 0;
    if ((expect && !strcasecmp(expect, "100-continue") && (declared || te)) || declared > DRAIN_LIMIT)
        return send_reply(t, r);
    return MHD_YES; /* answered on the next call: at once without a body, after it otherwise */
}

/* ---------------------------------------------------------------- the access handler */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    lgmsd_transport *t = cls;
    lgmsd_server *s = t->srv;
    srv_request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->srv = s;
        r->conn = conn;
        r->ops = &mhd_ops;
        lgmsd_upload_init(&r->up, s->cfg->max_body_bytes);
        r->t_start = lgms_now();
        snprintf(r->method, sizeof r->method, "%s", method);
        const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        size_t glen = given ? strlen(given) : 0;
        if (glen && glen < sizeof r->id &&
            strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == glen)
            memcpy(r->id, given, glen + 1);
        else
            snprintf(r->id, sizeof r->id, "%08x%08llx", s->id_salt, ++s->seq);
        s->inflight++;
        conn_track *ct = track_of(conn);
        if (ct) ct->req = r;
        char detail[128];
        if (protocol_error(conn, detail, sizeof detail)) {
            r->route.id = API_ROUTE_NOT_FOUND;
            srv_reply_fail(r, API_BAD_REQUEST, "malformed request: %s", detail);
            srv_reply_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
            return send_reply(t, r); /* never read a body we cannot frame */
        }
        lgmsd_route_begin(s, r, method, url);
        return r->reply.status ? early_reply(t, r) : MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (r->sent || (r->state != REQ_RECEIVING && r->state != REQ_ANSWERED)) return MHD_YES;
        if (r->state == REQ_ANSWERED) { /* an early refusal: drop the body, up to the limit */
            r->up.received += size;
            return r->up.received > DRAIN_LIMIT ? send_reply(t, r) : MHD_YES;
        }
        return lgmsd_upload_feed(&r->up, upload_data, size) ? MHD_NO : MHD_YES;
    }
    switch (r->state) {
    case REQ_ANSWERED: return r->sent ? MHD_YES : send_reply(t, r);
    case REQ_RECEIVING:
        lgmsd_route_body(s, r);
        if (r->state != REQ_QUEUED) return send_reply(t, r);
        MHD_suspend_connection(conn); /* a worker has it; resumed from on_async */
        return MHD_YES;
    case REQ_DONE: lgmsd_route_done(s, r); return send_reply(t, r);
    default: return MHD_YES; /* queued: the worker has it */
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    lgmsd_transport *t = cls;
    lgmsd_server *s = t->srv;
    srv_request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    conn_track *ct = track_of(conn);
    if (ct) ct->req = NULL, ct->reading_since = lgms_now(); /* the next request's clock starts */
    double total = lgms_now() - r->t_start;
    const char *route = api_route_label(r->route.id);
    int status = r->sent ? r->reply.status : 499; /* 499: the client went away before a reply */
    lgmsd_metrics_request(route, status, total);
    int model = r->route.id == API_ROUTE_SEGMENT || r->route.id == API_ROUTE_VOLUMES;
    lgmsd_request_log lr = {
        .request_id = r->id,
        .method = r->method,
        .route = route,
        .model = model && r->model_index >= 0 && r->model_index < s->n_models ? s->models[r->model_index].name : NULL,
        .status = status,
        .bytes_in = r->up.received,
        .bytes_out = r->sent ? r->reply.len : 0,
        .queue_ms = r->queue_ms,
        .inference_ms = r->inference_ms,
        .total_ms = total * 1e3,
        .width = r->width,
        .height = r->height};
    int quiet = r->route.id == API_ROUTE_HEALTHZ || r->route.id == API_ROUTE_READYZ || r->route.id == API_ROUTE_METRICS;
    if (!quiet || lgmsd_log_enabled(LGMSD_LOG_DEBUG)) lgmsd_log_request(&lr);
    int big = r->up.received > TRIM_AFTER || (r->sent && r->reply.len > TRIM_AFTER);
    lgmsd_request_free(r);
    if (big) malloc_trim(0); /* give the pages of a large body and reply back to the system */
    s->inflight--;
}

/* ---------------------------------------------------------------- connections and deadlines */

static void shut(conn_track *ct) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(ct->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
    ct->closing = 1;
}

/* The connection that has waited longest without a request in progress (idle between
 * requests, or still sending headers), or NULL. */
static conn_track *oldest_idle(lgmsd_transport *t, double now) {
    conn_track *best = NULL;
    for (conn_track *ct = t->conns; ct; ct = ct->next)
        if (!ct->req && !ct->closing && now - ct->reading_since >= EVICT_MIN_AGE &&
            (!best || ct->reading_since < best->reading_since))
            best = ct;
    return best;
}

static void on_evict_timer(uv_timer_t *h);

/* At most max_connections connections that are not being closed: the ones idle longest
 * without a request go first. libmicrohttpd may hold EVICT_RESERVE more, so it keeps
 * accepting while those close. When none is old enough yet (a burst of new ones), try again
 * once they may be, rather than wait for an unrelated event. */
static void make_room(lgmsd_transport *t) {
    int live = 0;
    for (conn_track *ct = t->conns; ct; ct = ct->next)
        live += !ct->closing;
    double now = lgms_now();
    while (live > t->srv->cfg->max_connections) {
        conn_track *victim = oldest_idle(t, now);
        if (!victim) {
            if (!uv_is_active((uv_handle_t *)&t->evict_timer))
                uv_timer_start(&t->evict_timer, on_evict_timer, (uint64_t)(EVICT_MIN_AGE * 1000) + 1, 0);
            return;
        }
        shut(victim);
        lgmsd_metrics_reject(LGMSD_REJECT_EVICTED);
        live--;
    }
}

static void on_evict_timer(uv_timer_t *h) {
    make_room(h->data);
    lgmsd_transport_drive(h->data);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    lgmsd_transport *t = cls;
    conn_track *ct = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ct = calloc(1, sizeof *ct);
        if (!ct) return; /* untracked: only MHD's idle timeout applies to it */
        ct->conn = conn;
        ct->reading_since = lgms_now();
        ct->next = t->conns;
        if (t->conns) t->conns->prev = ct;
        t->conns = ct;
        t->n_conns++;
        *socket_context = ct;
        /* past the cap, the newcomer takes the place of the connection idle longest, so a
         * flood of idle or trickling sockets cannot keep real clients and probes out */
        make_room(t);
    } else if (ct) {
        if (ct->prev)
            ct->prev->next = ct->next;
        else
            t->conns = ct->next;
        if (ct->next) ct->next->prev = ct->prev;
        free(ct);
        t->n_conns--;
        *socket_context = NULL;
    }
}

/* Once a second: refresh the job gauges (and expire the memory store's results); shut every connection that has spent
 * longer than header_timeout without a complete request header (this also bounds how long an idle keep-alive connection
 * is kept), or longer than read_timeout sending one request (headers and body, however steadily it trickles). MHD then
 * sees the close and frees the connection; no worker was ever involved (a request reaches the pool only once fully
 * received). */
static void on_tick(uv_timer_t *h) {
    lgmsd_transport *t = h->data;
    lgmsd_server *s = t->srv;
    double now = lgms_now();
    s->store->gauges(s); /* the memory store also drops expired results here */
    int closed = 0;
    for (conn_track *ct = t->conns; ct; ct = ct->next) {
        srv_request *r = ct->req;
        if (ct->closing || (r && (r->sent || r->state == REQ_QUEUED || r->state == REQ_DONE))) continue;
        /* no complete request header yet (still sending it, or idle since the last reply):
         * header_timeout; a request being received: read_timeout */
        if (now - ct->reading_since <= (r ? s->cfg->read_timeout : s->cfg->header_timeout)) continue;
        shut(ct);
        lgmsd_metrics_reject(r ? LGMSD_REJECT_READ_TIMEOUT : LGMSD_REJECT_HEADER_TIMEOUT);
        closed++;
    }
    if (closed)
        lgmsd_log(LGMSD_LOG_WARN,
                  "closed %d connection(s) that were too slow to send a request (header_timeout = %d s, "
                  "read_timeout = %d s)",
                  closed, s->cfg->header_timeout, s->cfg->read_timeout);
    if (closed) lgmsd_transport_drive(t);
}

/* ---------------------------------------------------------------- completions from the pool */

static void on_async(uv_async_t *a) {
    lgmsd_transport *t = a->data;
    lgmsd_server *s = t->srv;
    for (int k = 0; k < 2; k++) { /* the workers' completions, then the job store's */
        lgmsd_pool *p = k ? s->store_pool : s->pool;
        for (lgmsd_task *task = p ? lgmsd_pool_take_done(p) : NULL, *next; task; task = next) {
            next = task->next;
            if (task->long_running) { /* a volume job: clients poll it, nothing to resume */
                task->returned(task, s);
                malloc_trim(0); /* a volume's buffers were large */
                continue;
            }
            srv_request *r = (srv_request *)task;
            r->state = REQ_DONE;
            MHD_resume_connection(r->conn);
        }
    }
    lgmsd_transport_drive(t);
}

void lgmsd_transport_notify(void *transport) { uv_async_send(&((lgmsd_transport *)transport)->async); }

/* ---------------------------------------------------------------- lifecycle */

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = 0;
    lgmsd_log(LGMSD_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* TLS 1.2 and 1.3 only, ECDHE key exchange and AEAD ciphers (TLS 1.3 preferred). */
#define TLS_PRIORITIES                                                                                                 \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"          \
    "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:%SERVER_PRECEDENCE"

lgmsd_transport *lgmsd_transport_start(lgmsd_server *s, uv_loop_t *loop, int listen_fd, const char *tls_cert,
                                       const char *tls_key) {
    lgmsd_transport *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->srv = s;
    t->loop = loop;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (tls_cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {{tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)tls_cert},
                                        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key},
                                        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
                                        {MHD_OPTION_END, 0, NULL}};
    /* the external logger first: MHD warns about any message sent before it is set */
    t->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, t, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, t, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, t, MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->cfg->max_connections + EVICT_RESERVE),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY_LIMIT, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!t->mhd) {
        free(t);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(t->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(loop, &t->poll, info->epoll_fd);
    t->poll.data = t;
    uv_poll_start(&t->poll, UV_READABLE, on_mhd_poll);
    uv_timer_init(loop, &t->mhd_timer);
    t->mhd_timer.data = t;
    uv_timer_init(loop, &t->tick);
    t->tick.data = t;
    uv_timer_init(loop, &t->evict_timer);
    t->evict_timer.data = t;
    uv_timer_start(&t->tick, on_tick, 1000, 1000);
    uv_async_init(loop, &t->async, on_async);
    t->async.data = t;
    rearm(t);
    return t;
}

void lgmsd_transport_quiesce(lgmsd_transport *t) {
    MHD_socket fd = MHD_quiesce_daemon(t->mhd); /* stop accepting; the listen socket is ours */
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void lgmsd_transport_stop(lgmsd_transport *t) {
    if (t->stopped) return;
    t->stopped = 1;
    if (t->mhd) {
        MHD_run(t->mhd);
        MHD_stop_daemon(t->mhd);
        t->mhd = NULL;
    }
    uv_handle_t *handles[] = {(uv_handle_t *)&t->poll, (uv_handle_t *)&t->mhd_timer, (uv_handle_t *)&t->tick,
                              (uv_handle_t *)&t->evict_timer, (uv_handle_t *)&t->async};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        if (!uv_is_closing(handles[i])) uv_close(handles[i], NULL);
}

void lgmsd_transport_free(lgmsd_transport *t) { free(t); }
