/* http.h - the daemon: one libuv loop thread driving libmicrohttpd, a worker pool
 * running the engine, and graceful drain on SIGTERM/SIGINT. */
#ifndef LGMS_HTTP_H
#define LGMS_HTTP_H

#include "../api/models.h"
#include "../config/config.h"

/* Serve until SIGTERM/SIGINT and the drain finish. models[default_index] answers
 * POST /v1/segment. Returns the process exit code. */
int lgmsd_server_run(const lgmsd_config *cfg, const api_model_entry *models, int n_models, int default_index);

#endif
