/* test_pool.c - the worker pool on its own: FIFO order, the bounded queue, per-worker state
 * made on the worker's thread, 2-D tasks helped past a long one, and a stop that runs what
 * was queued. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../../server/pool.h"

typedef struct {
    lgmsd_task task;
    int id;
    atomic_int *order; /* the next slot to record into */
    int *ran;          /* ids in the order they ran */
    atomic_int *gate;  /* long tasks wait until it opens; NULL: none */
} test_task;

static void run(lgmsd_task *t, void *local) {
    test_task *x = (test_task *)t;
    if (x->gate)
        while (!atomic_load(x->gate))
            if (t->long_running) lgmsd_pool_help(*(lgmsd_pool **)local, local);
    x->ran[atomic_fetch_add(x->order, 1)] = x->id;
}

static lgmsd_pool *the_pool;
static void *init(int index, void *arg) {
    (void)index, (void)arg;
    return &the_pool; /* each worker's local: where the pool is */
}

static void *failing_init(int index, void *arg) {
    (void)arg;
    return index == 1 ? NULL : &the_pool;
}

static void wait_done(lgmsd_pool *p, int n) {
    int got = 0;
    for (int spins = 0; got < n && spins < 5000; spins++) {
        for (lgmsd_task *t = lgmsd_pool_take_done(p); t; t = t->next)
            got++;
        usleep(1000);
    }
    cr_assert_eq(got, n, "%d of %d tasks came back", got, n);
}

Test(pool, one_worker_runs_tasks_in_order_and_refuses_past_capacity) {
    atomic_int order = 0, gate = 0;
    int ran[8] = {0};
    lgmsd_pool_config pc = {.workers = 1, .capacity = 3, .worker_init = init};
    the_pool = lgmsd_pool_start(&pc);
    test_task first = {.task = {.run = run}, .id = 0, .order = &order, .ran = ran, .gate = &gate}, t[4];
    cr_assert_eq(lgmsd_pool_submit(the_pool, &first.task), 0);
    usleep(20000); /* the worker holds the first; the queue takes three more */
    for (int i = 0; i < 4; i++) {
        t[i] = (test_task){.task = {.run = run}, .id = i + 1, .order = &order, .ran = ran};
        cr_assert_eq(lgmsd_pool_submit(the_pool, &t[i].task), i < 3 ? 0 : -1, "task %d", i + 1);
    }
    int queued, busy;
    lgmsd_pool_load(the_pool, &queued, &busy);
    cr_assert_eq(queued, 3);
    cr_assert_eq(busy, 1);
    atomic_store(&gate, 1);
    wait_done(the_pool, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ran[i], i, "position %d ran task %d", i, ran[i]);
    lgmsd_pool_stop(the_pool);
}

Test(pool, a_long_task_lets_queued_short_tasks_run_between_its_steps) {
    atomic_int order = 0, gate = 0;
    int ran[8] = {0};
    lgmsd_pool_config pc = {.workers = 1, .capacity = 8, .worker_init = init};
    the_pool = lgmsd_pool_start(&pc);
    test_task longer = {.task = {.run = run, .long_running = 1}, .id = 9, .order = &order, .ran = ran, .gate = &gate};
    cr_assert_eq(lgmsd_pool_submit(the_pool, &longer.task), 0);
    usleep(20000);
    test_task s[2];
    for (int i = 0; i < 2; i++) {
        s[i] = (test_task){.task = {.run = run}, .id = i, .order = &order, .ran = ran};
        cr_assert_eq(lgmsd_pool_submit(the_pool, &s[i].task), 0);
    }
    while (atomic_load(&order) < 2) /* the short ones run inside the long one's wait */
        usleep(1000);
    atomic_store(&gate, 1);
    wait_done(the_pool, 3);
    cr_assert(ran[0] == 0 && ran[1] == 1 && ran[2] == 9, "order %d %d %d", ran[0], ran[1], ran[2]);
    lgmsd_pool_stop(the_pool);
}

Test(pool, ready_and_failed_workers_are_counted_and_stop_drains_the_queue) {
    atomic_int order = 0;
    int ran[8] = {0};
    lgmsd_pool_config pc = {.workers = 3, .capacity = 8, .worker_init = failing_init};
    the_pool = lgmsd_pool_start(&pc);
    int failed = 0, ready = 0;
    for (int spins = 0; spins < 2000 && ready + failed < 3; spins++) {
        ready = lgmsd_pool_ready_workers(the_pool, &failed);
        usleep(1000);
    }
    cr_assert_eq(ready, 2);
    cr_assert_eq(failed, 1);
    test_task t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = (test_task){.task = {.run = run}, .id = i, .order = &order, .ran = ran};
        cr_assert_eq(lgmsd_pool_submit(the_pool, &t[i].task), 0);
    }
    lgmsd_pool_stop(the_pool); /* runs every queued task before the threads end */
    cr_assert_eq(atomic_load(&order), 5);
}
