/* jobs.h - asynchronous volume jobs in this process's memory: a bounded table that
 * clients poll.
 *
 * POST .../volumes creates a job (202 + Location); a worker runs it patch by patch,
 * publishing progress; GET /v1/jobs/{id} reads it; DELETE cancels it (or forgets a
 * finished one). A result is kept job_ttl seconds; failed and cancelled jobs hold no slot
 * a new job needs (the oldest of them gives way). With API keys on, a job belongs to the
 * key that created it (its id, never the key): other keys get 404 for it.
 *
 * The table is touched by the loop thread only; a worker owns its job's result fields
 * until it stores the final state (release), after which the loop owns them (acquire).
 * A slot is freed only once the loop has taken the job's task back from the pool
 * (lgmsd_jobs_returned): the worker publishes the final state before the pool links the
 * task onto its completion list, so a DELETE or an expiry in between must not touch the
 * task. Such a forget hides the job at once and frees the slot when the task returns. */
#ifndef LGMSD_JOBS_H
#define LGMSD_JOBS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../api/segment_volume.h"
#include "../api/status.h"
#include "../engine/lgms.h"
#include "pool.h"

typedef enum {
    LGMSD_JOB_FREE = 0,
    LGMSD_JOB_QUEUED,
    LGMSD_JOB_RUNNING,
    LGMSD_JOB_DONE,
    LGMSD_JOB_FAILED,
    LGMSD_JOB_CANCELLED,
    LGMSD_JOB_STATES
} lgmsd_job_state;

#define LGMSD_JOB_ID_LEN 32 /* hex characters: 128 random bits */
#define LGMSD_KEY_ID_LEN 16

typedef struct {
    lgmsd_task task; /* first member: the pool hands it back */
    char id[LGMSD_JOB_ID_LEN + 1];
    char owner[LGMSD_KEY_ID_LEN + 1]; /* id of the API key that created it, "" without keys */
    int model_index;
    const lgms_model *model;
    char model_name[128];
    atomic_int state, done, total, cancel;
    uint8_t *upload; /* the NIfTI bytes, freed once read */
    size_t upload_len;
    api_volume_limits limits;
    char *result;   /* JSON text: the "result" object (done) or a problem+json "error" (failed) */
    double created; /* lgms_now() */
    double started, finished;
    lgmsd_pool *pool;
    int in_pool;   /* loop thread: submitted and not yet taken back (lgmsd_jobs_returned) */
    int forgotten; /* loop thread: forgotten while in the pool; freed when it returns */
} lgmsd_job;

typedef struct {
    lgmsd_job *slots;
    int max;
    double ttl;
    double seconds_sum; /* of finished runs, for Retry-After */
    long runs;
} lgmsd_jobs;

int lgmsd_jobs_init(lgmsd_jobs *t, int max_jobs, int ttl_seconds);
void lgmsd_jobs_free(lgmsd_jobs *t);
/* A slot with a fresh random id, in state QUEUED, owned by owner ("" for none). NULL when
 * every slot holds a job that is queued, running or done within ttl; *retry_after then
 * says in how many seconds one is expected to free (a finished result expiring, or a
 * running job ending at the mean time runs took). */
lgmsd_job *lgmsd_jobs_add(lgmsd_jobs *t, const char *owner, double now, int *retry_after);
/* The job with this id that owner may see, or NULL. */
lgmsd_job *lgmsd_jobs_find(lgmsd_jobs *t, const char *id, const char *owner);
/* Drop finished jobs older than ttl. Returns how many. */
int lgmsd_jobs_expire(lgmsd_jobs *t, double now);
/* Forget a finished job: it is gone for find() at once; its slot is free now, or when its
 * task comes back from the pool. */
void lgmsd_jobs_forget(lgmsd_job *job);
/* The loop thread took the job's task back from the pool's completion list. */
void lgmsd_jobs_returned(lgmsd_jobs *t, lgmsd_job *job);
/* Ask every queued or running job to stop (SIGTERM). */
void lgmsd_jobs_cancel_all(lgmsd_jobs *t);
/* Jobs in each state (for /metrics). */
void lgmsd_jobs_count(const lgmsd_jobs *t, int counts[LGMSD_JOB_STATES]);
/* The job's status document, malloc'ed JSON (the result text spliced in, never re-parsed). */
char *lgmsd_job_json(const lgmsd_job *job, double now, size_t *len);
/* The parts of a status document, shared with the redis store: the summary object
 * (id, state, model, progress, age_seconds), and the document made of it (taken) and the
 * result (done) or problem+json (failed) text. */
json_t *lgmsd_job_summary(const char *id, int state, const char *model, int done, int total, double age);
char *lgmsd_job_document(json_t *summary, int state, const char *result, size_t *len);
/* A fresh job id: 128 random bits in hex. 0, or -1 (no randomness). */
int lgmsd_job_new_id(char id[LGMSD_JOB_ID_LEN + 1]);
/* {"jobs": [...]} of the jobs owner may see, without results. */
char *lgmsd_jobs_list_json(const lgmsd_jobs *t, const char *owner, double now, size_t *len);
/* On a worker: run the job with this engine state; between patches, 2-D requests waiting
 * in the pool run first (lgmsd_pool_help). */
void lgmsd_job_run(lgmsd_job *job, lgms_state *st, void *worker_local);
const char *lgmsd_job_state_name(int state);
/* The state a name stands for (LGMSD_JOB_FREE for none). */
int lgmsd_job_state_of(const char *name);

#endif
