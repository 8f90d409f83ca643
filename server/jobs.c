/* jobs.c - the in-memory volume job table and a job's run on a worker. */
#include "jobs.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../api/json.h"
#include "../api/reply.h"
#include "../config/config.h"

const char *lgmsd_job_state_name(int state) {
    static const char *names[LGMSD_JOB_STATES] = {"free", "queued", "running", "done", "failed", "cancelled"};
    return state >= 0 && state < LGMSD_JOB_STATES ? names[state] : "?";
}

int lgmsd_job_state_of(const char *name) {
    for (int i = 1; name && i < LGMSD_JOB_STATES; i++)
        if (!strcmp(name, lgmsd_job_state_name(i))) return i;
    return LGMSD_JOB_FREE;
}

int lgmsd_jobs_init(lgmsd_jobs *t, int max_jobs, int ttl_seconds) {
    memset(t, 0, sizeof *t);
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

void lgmsd_jobs_returned(lgmsd_jobs *t, lgmsd_job *job) {
    job->in_pool = 0;
    int st = atomic_load_explicit(&job->state, memory_order_acquire);
    if (st == LGMSD_JOB_DONE && job->finished > job->started) t->seconds_sum += job->finished - job->started, t->runs++;
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

int lgmsd_job_new_id(char id[LGMSD_JOB_ID_LEN + 1]) {
    uint8_t rnd[LGMSD_JOB_ID_LEN / 2];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) return -1;
    for (size_t k = 0; k < sizeof rnd; k++)
        snprintf(id + 2 * k, 3, "%02x", rnd[k]);
    return 0;
}

lgmsd_job *lgmsd_jobs_add(lgmsd_jobs *t, const char *owner, double now, int *retry_after) {
    lgmsd_jobs_expire(t, now);
    lgmsd_job *slot = NULL, *yield = NULL;
    double soonest = t->ttl;
    double mean = t->runs ? t->seconds_sum / (double)t->runs : 10.0;
    for (int i = 0; i < t->max && !slot; i++) {
        lgmsd_job *j = &t->slots[i];
        int st = atomic_load(&j->state);
        if (st == LGMSD_JOB_FREE) {
            slot = j;
        } else if ((st == LGMSD_JOB_FAILED || st == LGMSD_JOB_CANCELLED) && !j->in_pool && !j->forgotten) {
            if (!yield || j->finished < yield->finished) yield = j; /* no result worth a slot */
        } else if (st == LGMSD_JOB_DONE) {
            double left = j->finished + t->ttl - now;
            soonest = left < soonest ? left : soonest;
        } else if (st == LGMSD_JOB_RUNNING) {
            int done = atomic_load(&j->done), total = atomic_load(&j->total);
            double left = mean * (total > 0 ? 1.0 - (double)done / total : 1.0);
            soonest = left < soonest ? left : soonest;
        }
    }
    if (!slot && yield) {
        free_slot(yield);
        slot = yield;
    }
    if (!slot) {
        *retry_after = (int)ceil(soonest < 1 ? 1 : soonest);
        return NULL;
    }
    if (lgmsd_job_new_id(slot->id)) {
        *retry_after = 1;
        return NULL;
    }
    snprintf(slot->owner, sizeof slot->owner, "%s", owner ? owner : "");
    slot->created = now;
    atomic_store(&slot->state, LGMSD_JOB_QUEUED);
    return slot;
}

static int visible(const lgmsd_job *j, const char *owner) {
    return atomic_load(&j->state) != LGMSD_JOB_FREE && !j->forgotten && !strcmp(j->owner, owner ? owner : "");
}

lgmsd_job *lgmsd_jobs_find(lgmsd_jobs *t, const char *id, const char *owner) {
    for (int i = 0; i < t->max; i++)
        if (visible(&t->slots[i], owner) && !strcmp(t->slots[i].id, id)) return &t->slots[i];
    return NULL;
}

void lgmsd_jobs_cancel_all(lgmsd_jobs *t) {
    for (int i = 0; i < t->max; i++)
        atomic_store(&t->slots[i].cancel, 1);
}

void lgmsd_jobs_count(const lgmsd_jobs *t, int counts[LGMSD_JOB_STATES]) {
    memset(counts, 0, sizeof(int) * LGMSD_JOB_STATES);
    for (int i = 0; i < t->max; i++)
        if (!t->slots[i].forgotten) counts[atomic_load(&t->slots[i].state)]++;
}

json_t *lgmsd_job_summary(const char *id, int state, const char *model, int done, int total, double age) {
    return json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:o}", "id", id, "state", lgmsd_job_state_name(state), "model",
                     model, "progress", "patches_done", done, "patches_total", total, "age_seconds",
                     api_json_round(age, 1));
}

/* The job's fields without its result. */
static json_t *summary(const lgmsd_job *job, int state, double now) {
    return lgmsd_job_summary(job->id, state, job->model_name, atomic_load(&job->done), atomic_load(&job->total),
                             now - job->created);
}

char *lgmsd_job_json(const lgmsd_job *job, double now, size_t *len) {
    int state = atomic_load_explicit(&job->state, memory_order_acquire);
    return lgmsd_job_document(summary(job, state, now), state, job->result, len);
}

char *lgmsd_job_document(json_t *o, int state, const char *result, size_t *len) {
    size_t head_len;
    char *head = o ? api_json_dump(o, &head_len) : NULL;
    json_decref(o);
    if (!head) return NULL;
    const char *key = state == LGMSD_JOB_DONE ? "result" : state == LGMSD_JOB_FAILED ? "error" : NULL;
    if (!key || !result) {
        *len = head_len;
        return head;
    }
    /* splice ,"result":<text> before the closing brace: the text was built once, by the worker */
    size_t rlen = strlen(result), klen = strlen(key);
    char *text = malloc(head_len + klen + rlen + 8);
    if (text) {
        int n = snprintf(text, head_len + klen + rlen + 8, "%.*s,\"%s\":%s}", (int)(head_len - 1), head, key, result);
        *len = (size_t)n;
    }
    free(head);
    return text;
}

char *lgmsd_jobs_list_json(const lgmsd_jobs *t, const char *owner, double now, size_t *len) {
    json_t *arr = json_array();
    for (int i = 0; i < t->max; i++) {
        const lgmsd_job *j = &t->slots[i];
        if (visible(j, owner)) json_array_append_new(arr, summary(j, atomic_load(&j->state), now));
    }
    json_t *o = json_pack("{s:o}", "jobs", arr);
    char *text = api_json_dump(o, len);
    json_decref(o);
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

void lgmsd_job_run(lgmsd_job *job, lgms_state *st, void *worker_local) {
    job->started = lgms_now();
    if (atomic_load(&job->cancel)) {
        job->finished = lgms_now();
        atomic_store_explicit(&job->state, LGMSD_JOB_CANCELLED, memory_order_release);
        return;
    }
    atomic_store(&job->state, LGMSD_JOB_RUNNING);
    run_ctx rc = {job, worker_local};
    api_volume_result r;
    api_error e = {0};
    api_status status =
        st ? api_segment_volume(st, job->model, job->upload, job->upload_len, &job->limits, on_progress, &rc, &r, &e)
           : api_fail(&e, API_INTERNAL, "out of memory for the engine state");
    free(job->upload); /* patient data leaves memory as soon as it is read */
    job->upload = NULL, job->upload_len = 0;
    int final = LGMSD_JOB_DONE;
    if (status == API_CANCELLED) {
        final = LGMSD_JOB_CANCELLED;
    } else if (status) {
        char hint[128];
        job->result = api_problem_json(api_http_status(status), e.detail,
                                       e.setting ? lgmsd_setting_hint(e.setting, hint, sizeof hint) : NULL, NULL);
        final = LGMSD_JOB_FAILED;
    } else {
        job->result = api_volume_result_json(&r, lgms_model_meta(job->model), NULL);
        api_volume_result_free(&r);
        if (!job->result) {
            job->result = api_problem_json(500, "out of memory building the result", NULL, NULL);
            final = LGMSD_JOB_FAILED;
        }
    }
    job->finished = lgms_now();
    atomic_store_explicit(&job->state, final, memory_order_release);
}
