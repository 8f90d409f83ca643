/* pool.h - fixed worker threads pulling tasks from a bounded FIFO queue.
 *
 * submit() never blocks: a full queue is refused at once (the caller answers 503).
 * Finished tasks go onto a locked completion list and notify() is called (the server
 * passes uv_async_send); the loop thread drains that list with take_done(). */
#ifndef LGMSD_POOL_H
#define LGMSD_POOL_H

typedef struct lgmsd_task {
    struct lgmsd_task *next;
    void (*run)(struct lgmsd_task *t, void *worker_local);
    double enqueued_at;
    int long_running; /* a volume job: calls lgmsd_pool_help between its steps */
    /* a volume job, taken back by the loop thread from the completion list (no request
     * waits for it): its owner's clean-up */
    void (*returned)(struct lgmsd_task *t, void *arg);
} lgmsd_task;

typedef struct {
    int workers, capacity;
    /* per-worker state, made and freed on the worker's own thread; init may return NULL on failure */
    void *(*worker_init)(int index, void *arg);
    void (*worker_fini)(void *local, void *arg);
    void (*notify)(void *notify_arg); /* a task finished (any thread) */
    void *notify_arg;
    void *arg; /* for worker_init / worker_fini / leftover */
    /* at stop: each task that finished after the loop's last take_done (a volume job that
     * ended while the daemon drained); NULL: none expected */
    void (*leftover)(struct lgmsd_task *t, void *arg);
} lgmsd_pool_config;

typedef struct lgmsd_pool lgmsd_pool;

lgmsd_pool *lgmsd_pool_start(const lgmsd_pool_config *cfg);
/* 0 when queued, -1 when the queue is full or the pool is stopping. */
int lgmsd_pool_submit(lgmsd_pool *p, lgmsd_task *t);
/* Completed tasks since the last call (oldest first), or NULL. */
lgmsd_task *lgmsd_pool_take_done(lgmsd_pool *p);
/* From inside a long-running task, between two of its steps: run the oldest queued
 * short task (a 2-D request) on this worker, as if a free worker had taken it. 1 if one
 * ran, 0 if none was waiting. This is how a volume never holds 2-D requests back for
 * longer than one of its patches, even on a single worker. */
int lgmsd_pool_help(lgmsd_pool *p, void *worker_local);
/* Workers whose init finished (-1 for a failed init), and current load. */
int lgmsd_pool_ready_workers(lgmsd_pool *p, int *failed);
void lgmsd_pool_load(lgmsd_pool *p, int *queued, int *busy);
/* Stop after the queue is empty; joins the threads. Tasks still queued are run first;
 * finished tasks nobody took go to cfg.leftover. */
void lgmsd_pool_stop(lgmsd_pool *p);

#endif
