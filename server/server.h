/* server.h - the daemon's shared state, internal to server/: what the transport, the
 * routes and the workers all see. lgmsd_server_run (daemon.h) is the public face. */
#ifndef LGMSD_SERVER_H
#define LGMSD_SERVER_H

#include "../api/models.h"
#include "../config/config.h"
#include "auth.h"
#include "jobs.h"
#include "pool.h"

typedef struct lgmsd_transport lgmsd_transport;

typedef struct lgmsd_server {
    const lgmsd_config *cfg;
    const api_model_entry *models;
    int n_models, default_index;
    int workers, engine_threads;
    lgmsd_pool *pool;
    lgmsd_jobs jobs;
    lgmsd_keys keys;
    char *models_json;
    size_t models_json_len;
    int draining;  /* SIGTERM seen: refuse new work, finish what was accepted */
    long inflight; /* requests begun and not yet completed (loop thread) */
    unsigned long long seq;
    unsigned id_salt;
    lgmsd_transport *transport;
} lgmsd_server;

/* /readyz: 1 when every worker is warm, nothing drains and the queue has room; why says what. */
int lgmsd_server_ready(lgmsd_server *s, const char **why);

#endif
