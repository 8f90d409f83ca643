/* daemon.h - the daemon: one libuv loop thread driving libmicrohttpd (transport.h), a worker
 * pool running the engine (workers.h), the routes (routes.h), and a graceful drain on
 * SIGTERM/SIGINT. */
#ifndef LGMSD_DAEMON_H
#define LGMSD_DAEMON_H

#include "../api/models.h"
#include "../config/config.h"

/* Serve until SIGTERM/SIGINT and the drain finish. models[default_index] answers
 * POST /v1/segment. The listening socket is opened before anything else, so a port that
 * is taken fails at once. Returns the process exit code. */
int lgmsd_server_run(const lgmsd_config *cfg, const api_model_entry *models, int n_models, int default_index);

#endif
