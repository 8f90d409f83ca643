/* daemon.c - start, serve, drain, stop (see daemon.h and docs/architecture.md). */
#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../api/nifti.h"
#include "cpus.h"
#include "files.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "transport.h"
#include "ui.h"
#include "upload.h"
#include "workers.h"

typedef struct {
    lgmsd_server srv;
    uv_loop_t loop;
    uv_timer_t drain_timer;
    uv_signal_t sigterm, sigint;
    double drain_deadline;
    int stopped;
} daemon_state;

int lgmsd_server_ready(lgmsd_server *s, const char **why) {
    int failed = 0, ready = lgmsd_pool_ready_workers(s->pool, &failed), queued, busy, images = 0;
    lgmsd_pool_load(s->pool, &queued, &busy);
    for (int i = 0; i < s->n_models; i++)
        images += lgms_model_meta(s->models[i].model)->spatial_dims == 2;
    const char *store_why = "ready";
    /* the job store matters to readiness only when volumes are all this replica serves */
    int store_ok = images || !s->store_state || s->store->up(s, &store_why);
    *why = s->draining               ? "draining"
           : failed                  ? "a worker failed to start"
           : ready < s->workers      ? "warming up"
           : queued >= s->cfg->queue ? "queue full"
           : !store_ok               ? "job store unreachable"
                                     : "ready";
    return !strcmp(*why, "ready");
}

/* ---------------------------------------------------------------- drain and stop */

static void stop(daemon_state *d) {
    if (d->stopped) return;
    d->stopped = 1;
    lgmsd_transport_stop(d->srv.transport);
    uv_handle_t *handles[] = {(uv_handle_t *)&d->drain_timer, (uv_handle_t *)&d->sigterm, (uv_handle_t *)&d->sigint};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        if (!uv_is_closing(handles[i])) uv_close(handles[i], NULL);
}

static void on_drain_tick(uv_timer_t *t) {
    daemon_state *d = t->data;
    lgmsd_transport_drive(d->srv.transport);
    if (d->srv.inflight == 0) {
        lgmsd_log(LGMSD_LOG_INFO, "drained: every accepted request was answered");
        stop(d);
    } else if (lgms_now() > d->drain_deadline) {
        lgmsd_log(LGMSD_LOG_ERROR, "drain_timeout = %d s passed with %ld request(s) unanswered; exiting",
                  d->srv.cfg->drain_timeout, d->srv.inflight);
        fflush(stderr);
        /* libmicrohttpd aborts if stopped with suspended connections: leave without stopping it */
        _exit(1);
    }
}

static void on_signal(uv_signal_t *sig, int signum) {
    daemon_state *d = sig->data;
    lgmsd_server *s = &d->srv;
    if (s->draining) {
        lgmsd_log(LGMSD_LOG_WARN, "second signal %d while draining: exiting now", signum);
        fflush(stderr);
        _exit(1);
    }
    s->draining = 1;
    s->store->drain(s); /* volume jobs stop after their current patch */
    lgmsd_metrics_set_ready(0);
    lgmsd_log(LGMSD_LOG_INFO, "signal %d: draining %ld request(s), up to %d s", signum, s->inflight,
              s->cfg->drain_timeout);
    lgmsd_transport_quiesce(s->transport);
    d->drain_deadline = lgms_now() + s->cfg->drain_timeout;
    uv_timer_start(&d->drain_timer, on_drain_tick, 0, 20);
}

/* ---------------------------------------------------------------- start */

static int open_listener(const lgmsd_config *cfg, int *port_out) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot resolve host %s: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, why = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 512)) {
            why = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(why));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    *port_out = cfg->port;
    if (!getsockname(fd, (struct sockaddr *)&ss, &len))
        *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A volume job that ended while the daemon drained: its store's clean-up. */
static void leftover(lgmsd_task *t, void *arg) {
    if (t->long_running) t->returned(t, arg);
}

/* The job store the settings name; a blocking one gets its threads. 0, or -1 (logged). */
static int store_started;

static int start_store(lgmsd_server *s) {
    char err[512];
    if (s->store->blocking) {
        lgmsd_pool_config pc = {.workers = LGMSD_STORE_THREADS,
                                .capacity = LGMSD_STORE_QUEUE,
                                .worker_init = s->store->thread_init,
                                .worker_fini = s->store->thread_fini,
                                .notify = lgmsd_transport_notify,
                                .notify_arg = s->transport,
                                .arg = s};
        s->store_pool = lgmsd_pool_start(&pc);
        if (!s->store_pool) {
            lgmsd_log(LGMSD_LOG_ERROR, "cannot start the job store's threads");
            return -1;
        }
    }
    if (s->store->start(s, err, sizeof err)) {
        lgmsd_log(LGMSD_LOG_ERROR, "job store: %s", err);
        return -1;
    }
    store_started = 1;
    return 0;
}

int lgmsd_server_run(const lgmsd_config *cfg, const api_model_entry *models, int n_models, int default_index) {
    daemon_state *d = calloc(1, sizeof *d);
    if (!d) return 1;
    lgmsd_server *s = &d->srv;
    char err[512];
    uint8_t *tls_cert = NULL, *tls_key = NULL;
    size_t tls_len;
    int rc = 1, port = 0, loop_open = 0;
    s->cfg = cfg, s->models = models, s->n_models = n_models, s->default_index = default_index;
    s->store = lgmsd_store_pick(cfg->jobs_store);
    s->id_salt = (unsigned)time(NULL) ^ (unsigned)getpid() << 16;
    struct rlimit nofile; /* every connection is a descriptor: take the hard limit */
    if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    int listen_fd = open_listener(cfg, &port); /* first: a taken port fails before any warm-up */
    if (listen_fd < 0) goto out;
    int swept = api_nifti_sweep();
    if (swept) lgmsd_log(LGMSD_LOG_INFO, "removed %d file(s) a killed lgmsd left in /dev/shm", swept);
    int cpus = lgmsd_available_cpus(NULL);
    unsigned long long memory = lgmsd_memory_limit("/sys/fs/cgroup");
    s->body_budget = cfg->body_budget ? cfg->body_budget : memory / 4;
    if (s->body_budget < cfg->max_body_bytes) s->body_budget = cfg->max_body_bytes;
    lgmsd_upload_set_budget(s->body_budget);
    s->workers = cfg->workers ? cfg->workers : cpus;
    /* latency mode (fewer workers than CPUs): each inference is split over the spare CPUs */
    s->engine_threads = cfg->engine_threads ? cfg->engine_threads : (cpus / s->workers > 1 ? cpus / s->workers : 1);
    s->models_json = api_models_json(models, n_models, models[default_index].name);
    s->models_json_len = s->models_json ? strlen(s->models_json) : 0;
    if (!s->models_json) goto out;
    if (cfg->api_key_file[0] && lgmsd_keys_load(&s->keys, cfg->api_key_file, err, sizeof err)) {
        lgmsd_log(LGMSD_LOG_ERROR, "%s", err);
        goto out;
    }
    if (cfg->tls_cert[0] && (lgmsd_read_file(cfg->tls_cert, 1 << 20, &tls_cert, &tls_len, err, sizeof err) ||
                             lgmsd_read_file(cfg->tls_key, 1 << 20, &tls_key, &tls_len, err, sizeof err))) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot read the TLS files: %s", err);
        goto out;
    }
    lgmsd_ui_init();
    if (uv_loop_init(&d->loop)) goto out;
    loop_open = 1;
    lgmsd_metrics_init(s->workers, cfg->queue);
    /* the transport's async handle must exist before a worker can finish anything, so the
     * pool notifies through the server, which points at the transport once it exists */
    s->transport = lgmsd_transport_start(s, &d->loop, listen_fd, (const char *)tls_cert, (const char *)tls_key);
    if (!s->transport) {
        lgmsd_log(LGMSD_LOG_ERROR, "libmicrohttpd failed to start on %s:%d", cfg->host, port);
        goto out;
    }
    listen_fd = -1; /* MHD's now */
    lgmsd_pool_config pc = {.workers = s->workers,
                            .capacity = cfg->queue,
                            .worker_init = lgmsd_worker_init,
                            .worker_fini = lgmsd_worker_fini,
                            .notify = lgmsd_transport_notify,
                            .notify_arg = s->transport,
                            .arg = s,
                            .leftover = leftover};
    s->pool = lgmsd_pool_start(&pc);
    if (!s->pool) {
        lgmsd_log(LGMSD_LOG_ERROR, "cannot start %d worker threads", s->workers);
        lgmsd_transport_stop(s->transport);
        goto out_loop;
    }
    if (start_store(s)) {
        lgmsd_transport_stop(s->transport);
        goto out_pool;
    }
    uv_timer_init(&d->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    lgmsd_log(LGMSD_LOG_INFO,
              "listening on %s:%d (%s), %d worker(s) x %d engine thread(s), queue %d, default model %s, %s, "
              "bodies being received up to %llu MiB together",
              cfg->host, port, tls_cert ? "https" : "http", s->workers, s->engine_threads, cfg->queue,
              models[default_index].name, s->keys.n ? "API keys required" : "no authentication", s->body_budget >> 20);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = 0;
out_pool:
    lgmsd_pool_stop(s->pool); /* the queue is empty: every request was answered */
    if (s->store_pool) lgmsd_pool_stop(s->store_pool);
    if (store_started) s->store->stop(s); /* no worker holds a job any more */
out_loop:
    uv_run(&d->loop, UV_RUN_DEFAULT); /* let closed handles finish */
out:
    if (listen_fd >= 0) close(listen_fd);
    if (loop_open) uv_loop_close(&d->loop);
    lgmsd_transport_free(s->transport);
    lgmsd_keys_free(&s->keys);
    free(s->models_json);
    free(tls_cert);
    free(tls_key);
    free(d);
    return rc;
}
