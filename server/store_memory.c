/* store_memory.c - the memory job store: this process's job table (jobs.h), its calls
 * made on the loop thread, its jobs run as long tasks on the worker pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "server.h"
#include "store.h"
#include "workers.h"

static void returned(lgmsd_task *t, void *arg) {
    lgmsd_server *s = arg;
    lgmsd_jobs_returned(&s->jobs, (lgmsd_job *)t);
}

static void full(lgmsd_store_call *c, int retry_after, const char *setting, const char *fmt, long value) {
    c->err.status = API_UNAVAILABLE;
    c->err.setting = setting;
    snprintf(c->err.detail, sizeof c->err.detail, fmt, value);
    c->retry_after = retry_after;
}

static void create(lgmsd_server *s, lgmsd_store_call *c) {
    int retry_after = 1;
    lgmsd_job *job = lgmsd_jobs_add(&s->jobs, c->owner, lgms_now(), &retry_after);
    if (!job) {
        lgmsd_metrics_reject(LGMSD_REJECT_JOBS_FULL);
        full(c, retry_after, "max_jobs", "every job slot holds a queued, running or finished job (max_jobs = %ld)",
             s->cfg->max_jobs);
        return;
    }
    job->model_index = c->model_index;
    job->model = s->models[c->model_index].model;
    snprintf(job->model_name, sizeof job->model_name, "%s", s->models[c->model_index].name);
    job->upload = c->upload, job->upload_len = c->upload_len;
    c->upload = NULL, c->upload_len = 0;
    job->limits = c->limits;
    job->pool = s->pool;
    job->task.run = lgmsd_run_job_task;
    job->task.long_running = 1;
    job->task.returned = returned;
    job->task.enqueued_at = lgms_now();
    if (lgmsd_pool_submit(s->pool, &job->task)) {
        lgmsd_jobs_forget(job);
        lgmsd_metrics_reject(LGMSD_REJECT_QUEUE_FULL);
        full(c, 1, "queue", "all workers are busy and the queue is full (queue = %ld)", s->cfg->queue);
        return;
    }
    job->in_pool = 1;
    memcpy(c->id, job->id, sizeof c->id);
    c->body = lgmsd_job_json(job, lgms_now(), &c->len);
    c->status = 202;
}

static void get_or_delete(lgmsd_server *s, lgmsd_store_call *c) {
    lgmsd_job *job = lgmsd_jobs_find(&s->jobs, c->id, c->owner);
    if (!job) {
        api_fail(&c->err, API_NOT_FOUND, "no job %.40s (finished jobs are kept job_ttl = %d s)", c->id,
                 s->cfg->job_ttl);
        return;
    }
    int state = atomic_load(&job->state);
    if (c->op == LGMSD_STORE_DELETE) {
        if (state != LGMSD_JOB_QUEUED && state != LGMSD_JOB_RUNNING) {
            lgmsd_jobs_forget(job);
            c->status = 204;
            return;
        }
        atomic_store(&job->cancel, 1); /* the worker stops after the current patch */
    }
    c->body = lgmsd_job_json(job, lgms_now(), &c->len);
    c->status = c->op == LGMSD_STORE_DELETE ? 202 : 200;
}

static void call(lgmsd_server *s, lgmsd_store_call *c, void *thread) {
    (void)thread;
    switch (c->op) {
    case LGMSD_STORE_CREATE: create(s, c); break;
    case LGMSD_STORE_GET:
    case LGMSD_STORE_DELETE: get_or_delete(s, c); break;
    case LGMSD_STORE_LIST:
        c->body = lgmsd_jobs_list_json(&s->jobs, c->owner, lgms_now(), &c->len);
        c->status = 200;
        break;
    }
    if (!c->err.status && c->status != 204 && !c->body) {
        api_fail(&c->err, API_INTERNAL, "out of memory");
        c->status = 0;
    }
}

static int start(lgmsd_server *s, char *err, size_t errlen) {
    if (lgmsd_jobs_init(&s->jobs, s->cfg->max_jobs, s->cfg->job_ttl)) {
        snprintf(err, errlen, "out of memory for %d job slots", s->cfg->max_jobs);
        return -1;
    }
    return 0;
}

static void drain(lgmsd_server *s) { lgmsd_jobs_cancel_all(&s->jobs); }

static void stop(lgmsd_server *s) { lgmsd_jobs_free(&s->jobs); }

static int up(lgmsd_server *s, const char **why) {
    (void)s;
    *why = "ready";
    return 1;
}

static void gauges(lgmsd_server *s) {
    int counts[LGMSD_JOB_STATES];
    lgmsd_jobs_expire(&s->jobs, lgms_now());
    lgmsd_jobs_count(&s->jobs, counts);
    lgmsd_metrics_set_jobs(counts[LGMSD_JOB_QUEUED], counts[LGMSD_JOB_RUNNING], counts[LGMSD_JOB_DONE],
                           counts[LGMSD_JOB_FAILED], counts[LGMSD_JOB_CANCELLED]);
}

const lgmsd_store_backend lgmsd_store_memory = {.name = "memory",
                                                .blocking = 0,
                                                .start = start,
                                                .call = call,
                                                .drain = drain,
                                                .stop = stop,
                                                .up = up,
                                                .gauges = gauges};
