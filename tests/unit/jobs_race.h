/* jobs_race.h - a volume job's completion raced against DELETE and expiry, thousands of
 * times, on the real worker pool and job table. Shared by the unit tests (natively and
 * under ASan) and by the ThreadSanitizer run (tests/tsan/jobs_race.c).
 *
 * This thread plays the daemon's loop: it creates jobs, submits them, forgets finished ones
 * as DELETE does (or expires them with a zero ttl) as soon as their state turns final, and
 * takes completed tasks back from the pool as the loop's async callback does. Before the
 * fix, a forget between the worker's final state and the pool's completion list zeroed a
 * task the list still linked: it came back without its long_running mark (the loop then
 * resumed a NULL connection) and cut the list (later tasks never came back). */
#ifndef LGMS_TEST_JOBS_RACE_H
#define LGMS_TEST_JOBS_RACE_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../server/jobs.h"
#include "../../server/pool.h"

/* A job's run on a worker, as lgmsd_job_run ends: a result, then the final state. */
static void race_fake_run(lgmsd_task *t, void *local) {
    (void)local;
    lgmsd_job *job = (lgmsd_job *)t;
    job->result = strdup("{}");
    job->finished = 0;
    atomic_store_explicit(&job->state, (uintptr_t)job & 64 ? LGMSD_JOB_DONE : LGMSD_JOB_FAILED, memory_order_release);
}

/* Returns 0, or -1 with a message in err. */
static int jobs_race(int rounds, int workers, char *err, size_t errlen) {
    lgmsd_jobs jobs;
    if (lgmsd_jobs_init(&jobs, 8, 1)) return snprintf(err, errlen, "no memory"), -1;
    lgmsd_pool_config pc = {.workers = workers, .capacity = 16};
    lgmsd_pool *pool = lgmsd_pool_start(&pc);
    if (!pool) return snprintf(err, errlen, "no pool"), -1;
    long submitted = 0, returned = 0, bad = 0;
    unsigned seed = 12345;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (returned < rounds) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 60) break; /* lost tasks never come back */
        if (submitted < rounds) {
            int retry;
            lgmsd_job *job = lgmsd_jobs_add(&jobs, "", 0.0, &retry);
            if (job) {
                job->task.run = race_fake_run;
                job->task.long_running = 1;
                if (lgmsd_pool_submit(pool, &job->task)) {
                    lgmsd_jobs_forget(job);
                } else {
                    job->in_pool = 1;
                    submitted++;
                }
            }
        }
        /* DELETE or expiry of every job whose state is final, task returned or not */
        seed = seed * 1103515245u + 12345u;
        for (int i = 0; i < jobs.max; i++) {
            lgmsd_job *j = &jobs.slots[i];
            int st = atomic_load_explicit(&j->state, memory_order_acquire);
            if (st >= LGMSD_JOB_DONE && !j->forgotten) {
                if (seed & 1)
                    lgmsd_jobs_forget(j);
                else
                    lgmsd_jobs_expire(&jobs, 1e9);
            }
        }
        for (lgmsd_task *t = lgmsd_pool_take_done(pool), *next; t; t = next) {
            next = t->next;
            if (!t->long_running) bad++;
            lgmsd_jobs_returned(&jobs, (lgmsd_job *)t);
            returned++;
        }
    }
    lgmsd_pool_stop(pool);
    lgmsd_jobs_free(&jobs);
    if (bad || returned != submitted) {
        snprintf(err, errlen, "%ld of %ld tasks came back, %ld without their job mark", returned, submitted, bad);
        return -1;
    }
    return 0;
}

#endif
