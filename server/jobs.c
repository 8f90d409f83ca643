/* jobs.c - the volume job table and a job's run on a worker. */
#include "jobs.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../api/base64.h"
#include "../api/volseg.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *lgmsd_job_state_name(int state) {
    static const char *names[] = {"free", "queued", "running", "done", "failed", "cancelled"};
    return state >= 0 && state <= LGMSD_JOB_CANCELLED ? names[state] : "?";
}

int lgmsd_jobs_init(lgmsd_jobs *t, int max_jobs, int ttl_seconds) {
    t->slots = calloc((size_t)max_jobs, sizeof *t->slots);
    t->max = t->slots ? max_jobs : 0;
    t->ttl = ttl_seconds;
    return t->slots ? 0 : -1;
}

static void free_slot(lgmsd_job *job) {
    free(job->upload);
    free(job->result);
    memset(job, 0, sizeof *job); /* state FREE */
}

void lgmsd_jobs_forget(lgmsd_job *job) {
    if (job->in_pool)
        job->forgotten = 1; /* the pool still links the task: free it when it comes back */
    else
        free_slot(job);
}

void lgmsd_jobs_returned(lgmsd_job *job) {
    job->in_pool = 0;
    if (job->forgotten) free_slot(job);
}

void lgmsd_jobs_free(lgmsd_jobs *t) {
    for (int i = 0; i < t->max; i++)
        free_slot(&t->slots[i]);
    free(t->slots);
    t->slots = NULL, t->max = 0;
}

static int finished(int state) { return state >= LGMSD_JOB_DONE; }

int lgmsd_jobs_expire(lgmsd_jobs *t, double now) {
    int n = 0;
    for (int i = 0; i < t->max; i++) {
        lgmsd_job *j = &t->slots[i];
        if (!j->forgotten && finished(atomic_load(&j->state)) && now - j->finished > t->ttl) lgmsd_jobs_forget(j), n++;
    }
    return n;
}

lgmsd_job *lgmsd_jobs_add(lgmsd_jobs *t, double now) {
    lgmsd_jobs_expire(t, now);
    for (int i = 0; i < t->max; i++) {
        lgmsd_job *j = &t->slots[i];
        if (atomic_load(&j->state) != LGMSD_JOB_FREE) continue;
        uint8_t rnd[16];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return NULL;
        for (int k = 0; k < 16; k++)
            snprintf(j->id + 2 * k, 3, "%02x", rnd[k]);
        j->created = now;
        atomic_store(&j->state, LGMSD_JOB_QUEUED);
        return j;
    }
    return NULL;
}

lgmsd_job *lgmsd_jobs_find(lgmsd_jobs *t, const char *id) {
    for (int i = 0; i < t->max; i++)
        if (atomic_load(&t->slots[i].state) != LGMSD_JOB_FREE && !t->slots[i].forgotten && !strcmp(t->slots[i].id, id))
            return &t->slots[i];
    return NULL;
}

void lgmsd_jobs_cancel_all(lgmsd_jobs *t) {
    for (int i = 0; i < t->max; i++)
        atomic_store(&t->slots[i].cancel, 1);
}

char *lgmsd_job_json(const lgmsd_job *job, double now, size_t *len) {
    int state = atomic_load_explicit(&job->state, memory_order_acquire);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:f}", "id", job->id, "state", lgmsd_job_state_name(state), "model",
                  job->model_name, "progress", "patches_done", atomic_load(&job->done), "patches_total",
                  atomic_load(&job->total), "age_seconds", (double)(long)((now - job->created) * 10) / 10);
    if (o && job->result && (state == LGMSD_JOB_DONE || state == LGMSD_JOB_FAILED))
        json_object_set_new(o, state == LGMSD_JOB_DONE ? "result" : "error", json_loads(job->result, 0, NULL));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    *len = text ? strlen(text) : 0;
    return text;
}

typedef struct {
    lgmsd_job *job;
    void *worker_local;
} run_ctx;

static int on_progress(void *arg, int done, int total) {
    run_ctx *c = arg;
    atomic_store(&c->job->done, done);
    atomic_store(&c->job->total, total);
    while (lgmsd_pool_help(c->job->pool, c->worker_local)) /* 2-D requests first */
        ;
    return atomic_load(&c->job->cancel);
}

static json_t *blob(const char *mime, const char *filename, const uint8_t *data, size_t len) {
    char *b64 = malloc(api_base64_encoded_len(len) + 1);
    if (!b64) return NULL;
    api_base64_encode(data, len, b64);
    json_t *o =
        json_pack("{s:s, s:s, s:s%}", "mime", mime, "filename", filename, "base64", b64, api_base64_encoded_len(len));
    free(b64);
    return o;
}

static char *result_json(const lgms_meta *mt, const api_volume_result *r) {
    json_t *classes = json_array();
    for (int c = 1; c < r->n_labels; c++)
        json_array_append_new(classes, json_pack("{s:i, s:s, s:I, s:f}", "id", c, "name", mt->class_names[c - 1],
                                                 "voxels", (json_int_t)r->voxels[c], "ml",
                                                 (double)(long long)(r->ml[c] * 100 + 0.5) / 100));
    json_t *o = json_pack("{s:o, s:o, s:o, s:{s:[i,i,i], s:[f,f,f], s:s?, s:[i,i,i], s:s?}, s:i, s:f}", "labels",
                          blob("application/gzip", "labels.nii.gz", r->nifti, r->nifti_len), "montage",
                          blob("image/png", "montage.png", r->montage, r->montage_len), "classes", classes, "grid",
                          "size", r->nx, r->ny, r->nz, "spacing_mm", r->spacing[0], r->spacing[1], r->spacing[2],
                          "axes", r->axes[0] ? r->axes : NULL, "model_grid", r->model_grid[0], r->model_grid[1],
                          r->model_grid[2], "model_axes", r->model_axes[0] ? r->model_axes : NULL, "patches",
                          r->patches, "seconds", (double)(long)(r->seconds * 100) / 100);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

void lgmsd_job_run(lgmsd_job *job, lgms_state *st, void *worker_local) {
    if (atomic_load(&job->cancel)) {
        job->finished = now_s();
        atomic_store_explicit(&job->state, LGMSD_JOB_CANCELLED, memory_order_release);
        return;
    }
    atomic_store(&job->state, LGMSD_JOB_RUNNING);
    run_ctx rc = {job, worker_local};
    api_volume_result r;
    char err[512] = "";
    int status = st ? api_volume_segment(st, job->model, job->upload, job->upload_len, &job->limits, on_progress, &rc,
                                         &r, err, sizeof err)
                    : 500;
    if (!st) snprintf(err, sizeof err, "out of memory for the engine state");
    free(job->upload); /* patient data leaves memory as soon as it is read */
    job->upload = NULL, job->upload_len = 0;
    int final = LGMSD_JOB_DONE;
    if (status == 499) {
        final = LGMSD_JOB_CANCELLED;
    } else if (status) {
        json_t *e = json_pack("{s:i, s:s}", "status", status, "detail", err);
        job->result = e ? json_dumps(e, JSON_COMPACT) : NULL;
        json_decref(e);
        final = LGMSD_JOB_FAILED;
    } else {
        job->result = result_json(lgms_model_meta(job->model), &r);
        api_volume_result_free(&r);
        if (!job->result) final = LGMSD_JOB_FAILED;
    }
    job->finished = now_s();
    atomic_store_explicit(&job->state, final, memory_order_release);
}
