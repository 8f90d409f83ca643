/* pool.c - worker threads and the bounded queue (a ring of task pointers). */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct lgmsd_pool {
    lgmsd_pool_config cfg;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    lgmsd_task **ring;
    int head, count, busy, stopping, ready, failed;
    pthread_mutex_t done_lock;
    lgmsd_task *done_head, *done_tail;
};

typedef struct {
    lgmsd_pool *p;
    int index;
} worker_arg;

/* Hand a finished task back to the loop and wake it. */
static void complete(lgmsd_pool *p, lgmsd_task *t) {
    t->next = NULL;
    pthread_mutex_lock(&p->done_lock);
    if (p->done_tail)
        p->done_tail->next = t;
    else
        p->done_head = t;
    p->done_tail = t;
    pthread_mutex_unlock(&p->done_lock);
    pthread_mutex_lock(&p->lock);
    p->busy--;
    pthread_mutex_unlock(&p->lock);
    if (p->cfg.notify) p->cfg.notify(p->cfg.notify_arg);
}

static void *worker_main(void *argp) {
    worker_arg wa = *(worker_arg *)argp;
    free(argp);
    lgmsd_pool *p = wa.p;
    void *local = p->cfg.worker_init ? p->cfg.worker_init(wa.index, p->cfg.arg) : NULL;
    pthread_mutex_lock(&p->lock);
    if (p->cfg.worker_init && !local)
        p->failed++;
    else
        p->ready++;
    pthread_mutex_unlock(&p->lock);
    if (p->cfg.worker_init && !local) return NULL;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->count && !p->stopping)
            pthread_cond_wait(&p->nonempty, &p->lock);
        if (!p->count) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            break;
        }
        lgmsd_task *t = p->ring[p->head];
        p->head = (p->head + 1) % p->cfg.capacity;
        p->count--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);

        t->run(t, local);
        complete(p, t);
    }
    if (p->cfg.worker_fini) p->cfg.worker_fini(local, p->cfg.arg);
    return NULL;
}

lgmsd_pool *lgmsd_pool_start(const lgmsd_pool_config *cfg) {
    if (cfg->workers < 1 || cfg->capacity < 1) return NULL;
    lgmsd_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = *cfg;
    p->threads = calloc((size_t)cfg->workers, sizeof *p->threads);
    p->ring = calloc((size_t)cfg->capacity, sizeof *p->ring);
    if (!p->threads || !p->ring) goto fail;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->done_lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    for (int i = 0; i < cfg->workers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) goto fail_threads;
        wa->p = p, wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa)) {
            free(wa);
            p->cfg.workers = i;
            goto fail_threads;
        }
    }
    return p;
fail_threads:
    lgmsd_pool_stop(p);
    return NULL;
fail:
    free(p->threads), free(p->ring), free(p);
    return NULL;
}

int lgmsd_pool_submit(lgmsd_pool *p, lgmsd_task *t) {
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->count == p->cfg.capacity) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    p->ring[(p->head + p->count) % p->cfg.capacity] = t;
    p->count++;
    pthread_cond_signal(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int lgmsd_pool_help(lgmsd_pool *p, void *worker_local) {
    pthread_mutex_lock(&p->lock);
    int found = -1;
    for (int i = 0; i < p->count && found < 0; i++)
        if (!p->ring[(p->head + i) % p->cfg.capacity]->long_running) found = i;
    if (found < 0) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    lgmsd_task *t = p->ring[(p->head + found) % p->cfg.capacity];
    for (int i = found; i < p->count - 1; i++) /* close the gap, keeping FIFO order */
        p->ring[(p->head + i) % p->cfg.capacity] = p->ring[(p->head + i + 1) % p->cfg.capacity];
    p->count--;
    p->busy++;
    pthread_mutex_unlock(&p->lock);
    t->run(t, worker_local);
    complete(p, t);
    return 1;
}

lgmsd_task *lgmsd_pool_take_done(lgmsd_pool *p) {
    pthread_mutex_lock(&p->done_lock);
    lgmsd_task *t = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->done_lock);
    return t;
}

int lgmsd_pool_ready_workers(lgmsd_pool *p, int *failed) {
    pthread_mutex_lock(&p->lock);
    int r = p->ready;
    if (failed) *failed = p->failed;
    pthread_mutex_unlock(&p->lock);
    return r;
}

void lgmsd_pool_load(lgmsd_pool *p, int *queued, int *busy) {
    pthread_mutex_lock(&p->lock);
    *queued = p->count, *busy = p->busy;
    pthread_mutex_unlock(&p->lock);
}

void lgmsd_pool_stop(lgmsd_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->cfg.workers; i++)
        pthread_join(p->threads[i], NULL);
    for (lgmsd_task *t = p->done_head, *next; t; t = next) { /* finished, never taken */
        next = t->next;
        if (p->cfg.leftover) p->cfg.leftover(t, p->cfg.arg);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->done_lock);
    pthread_cond_destroy(&p->nonempty);
    free(p->threads), free(p->ring), free(p);
}
