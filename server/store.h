/* store.h - where volume jobs live: one small interface, two backends.
 *
 *   memory  this process's job table (jobs.h), the default: nothing to run beside lgmsd;
 *           a job is known only to the replica that took it and is lost with it.
 *   redis   a Redis server every replica shares (store_redis.c): the upload, state,
 *           progress and result of each job under a key prefix with TTLs, the work in a
 *           Redis Stream per model that every replica serving the model reads through one
 *           consumer group, leases that a replica renews while it runs a job and that
 *           another replica takes over once they lapse. Any replica answers for any job.
 *
 * The routes make one call per request: create, get, delete or list. A memory call runs
 * on the loop thread at once. A redis call may block on the network, so the routes hand
 * it to the store's own threads (a small pool of its own, one Redis connection each) and
 * answer when it comes back: the loop thread never waits on Redis.
 *
 * Every call answers the way the HTTP reply will: a status (200, 202, 204) and a JSON
 * body, or an api_error (404, 503 with retry_after, ...). The job documents are the same
 * from both backends (api/openapi.json, Job and JobList). */
#ifndef LGMSD_STORE_H
#define LGMSD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../api/segment_volume.h"
#include "../api/status.h"
#include "jobs.h"
#include "pool.h"

struct lgmsd_server;

typedef enum { LGMSD_STORE_CREATE = 0, LGMSD_STORE_GET, LGMSD_STORE_DELETE, LGMSD_STORE_LIST } lgmsd_store_op;

typedef struct {
    lgmsd_store_op op;
    char id[LGMSD_JOB_ID_LEN + 1];    /* GET, DELETE; after CREATE: the new job's */
    char owner[LGMSD_KEY_ID_LEN + 1]; /* the caller's key id, "" without keys */
    int model_index;                  /* CREATE */
    uint8_t *upload;                  /* CREATE: the volume; the store takes it */
    size_t upload_len;
    api_volume_limits limits; /* CREATE */
    /* the answer */
    int status; /* 200, 202, 204; 0 when err is set */
    char *body; /* malloc'ed JSON, or NULL (204) */
    size_t len;
    api_error err;
    int retry_after; /* with a 503 */
} lgmsd_store_call;

typedef struct {
    const char *name;
    int blocking; /* calls run on the store's threads, not the loop */
    /* set up after the worker pool exists (a redis store starts its job reader); 0 or -1 */
    int (*start)(struct lgmsd_server *s, char *err, size_t errlen);
    /* one call; thread is the store thread's own state (NULL for a non-blocking store) */
    void (*call)(struct lgmsd_server *s, lgmsd_store_call *c, void *thread);
    void *(*thread_init)(int index, void *server);
    void (*thread_fini)(void *thread, void *server);
    /* SIGTERM: take no more jobs; jobs running here stop after their current patch */
    void (*drain)(struct lgmsd_server *s);
    /* after the worker pool stopped: free everything */
    void (*stop)(struct lgmsd_server *s);
    /* 1 when jobs can be taken now; else why (for /readyz and 503s) */
    int (*up)(struct lgmsd_server *s, const char **why);
    /* refresh the job gauges (for /metrics; never blocks) */
    void (*gauges)(struct lgmsd_server *s);
} lgmsd_store_backend;

extern const lgmsd_store_backend lgmsd_store_memory, lgmsd_store_redis;

/* The backend the jobs_store setting names ("memory", or a redis:// URL). */
const lgmsd_store_backend *lgmsd_store_pick(const char *setting);
/* Free what a call holds (its upload and answer). */
void lgmsd_store_call_free(lgmsd_store_call *c);

#endif
