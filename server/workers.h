/* workers.h - what each worker thread holds and runs: per model, a 2-D context or a 3-D
 * engine state, made (and warmed up with one real inference) on the worker's own thread;
 * the image task (the whole 2-D pipeline of one request, JSON form parsing included, so
 * the loop thread never parses or decodes a body) and the volume job task. */
#ifndef LGMSD_WORKERS_H
#define LGMSD_WORKERS_H

#include "pool.h"

/* lgmsd_pool_config's worker_init / worker_fini; arg is the lgmsd_server. */
void *lgmsd_worker_init(int index, void *arg);
void lgmsd_worker_fini(void *local, void *arg);
/* Task runners: t is an srv_request (image) or an lgmsd_job (volume). */
void lgmsd_run_image_task(lgmsd_task *t, void *local);
void lgmsd_run_job_task(lgmsd_task *t, void *local);
/* A worker's engine state for a 3-D model (for job tasks of other stores), or NULL. */
struct lgms_state;
struct lgms_state *lgmsd_worker_volume_state(void *local, int model_index);

#endif
