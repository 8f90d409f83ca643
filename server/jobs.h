/* jobs.h - long-running volume jobs: a bounded table of jobs that clients poll.
 *
 * POST .../volumes creates a job (202 + Location); a worker runs it patch by patch,
 * publishing progress; GET /v1/jobs/{id} reads it; DELETE cancels it (or forgets a
 * finished one). Finished results are kept job_ttl seconds, then dropped. The table is
 * touched by the loop thread only; a worker owns its job's result fields until it
 * stores the final state (release), after which the loop owns them (acquire).
 *
 * A job's slot is freed only once the loop has taken its task back from the pool
 * (lgmsd_jobs_returned): the worker publishes the final state before the pool links the
 * task onto its completion list, so a DELETE or an expiry in between must not touch the
 * task. Such a forget hides the job at once and frees the slot when the task returns. */
#ifndef LGMSD_JOBS_H
#define LGMSD_JOBS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/volseg.h"
#include "../engine/lgms.h"
#include "pool.h"

typedef enum {
    LGMSD_JOB_FREE = 0,
    LGMSD_JOB_QUEUED,
    LGMSD_JOB_RUNNING,
    LGMSD_JOB_DONE,
    LGMSD_JOB_FAILED,
    LGMSD_JOB_CANCELLED
} lgmsd_job_state;

typedef struct {
    lgmsd_task task; /* first member: the pool hands it back */
    char id[33];
    int model_index;
    const lgms_model *model;
    char model_name[128];
    atomic_int state, done, total, cancel;
    uint8_t *upload; /* the NIfTI bytes, freed once read */
    size_t upload_len;
    api_volume_limits limits;
    char *result; /* JSON object text for "result" (done) or "error" (failed), built by the worker */
    double created, finished;
    lgmsd_pool *pool;
    int in_pool;   /* loop thread: submitted and not yet taken back (lgmsd_jobs_returned) */
    int forgotten; /* loop thread: forgotten while in the pool; freed when it returns */
} lgmsd_job;

typedef struct {
    lgmsd_job *slots;
    int max;
    double ttl;
} lgmsd_jobs;

int lgmsd_jobs_init(lgmsd_jobs *t, int max_jobs, int ttl_seconds);
void lgmsd_jobs_free(lgmsd_jobs *t);
/* A free slot with a fresh random id, in state QUEUED; NULL when every slot holds a job
 * that is queued, running or finished within ttl. */
lgmsd_job *lgmsd_jobs_add(lgmsd_jobs *t, double now);
lgmsd_job *lgmsd_jobs_find(lgmsd_jobs *t, const char *id);
/* Drop finished jobs older than ttl. Returns how many. */
int lgmsd_jobs_expire(lgmsd_jobs *t, double now);
/* Forget a finished job: it is gone for find() at once; its slot is free now, or when its
 * task comes back from the pool. */
void lgmsd_jobs_forget(lgmsd_job *job);
/* The loop thread took the job's task back from the pool's completion list. */
void lgmsd_jobs_returned(lgmsd_job *job);
/* Ask every queued or running job to stop (SIGTERM). */
void lgmsd_jobs_cancel_all(lgmsd_jobs *t);
/* The job's status document, malloc'ed JSON. */
char *lgmsd_job_json(const lgmsd_job *job, double now, size_t *len);
/* On a worker: run the job with this engine state; between patches, 2-D requests waiting
 * in the pool run first (lgmsd_pool_help). */
void lgmsd_job_run(lgmsd_job *job, lgms_state *st, void *worker_local);
const char *lgmsd_job_state_name(int state);

#endif
