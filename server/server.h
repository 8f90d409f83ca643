/* server.h - the daemon's shared state, internal to server/: what the transport, the
 * routes and the workers all see. lgmsd_server_run (daemon.h) is the public face. */
#ifndef LGMSD_SERVER_H
#define LGMSD_SERVER_H

#include "../api/models.h"
#include "../config/config.h"
#include "auth.h"
#include "jobs.h"
#include "pool.h"
#include "store.h"

typedef struct lgmsd_transport lgmsd_transport;

#define LGMSD_STORE_THREADS 2 /* a blocking store's threads, one connection each */
#define LGMSD_STORE_QUEUE 256 /* calls waiting for them */

typedef struct lgmsd_server {
    const lgmsd_config *cfg;
    const api_model_entry *models;
    int n_models, default_index;
    int workers, engine_threads;
    unsigned long long body_budget; /* as applied (the setting, or derived from the memory limit) */
    lgmsd_pool *pool;
    const lgmsd_store_backend *store; /* where volume jobs live (store.h) */
    lgmsd_pool *store_pool;           /* a blocking store's threads; NULL for memory */
    void *store_state;                /* the redis store's own state */
    lgmsd_jobs jobs;                  /* the memory store's table */
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
