/* threads.c - a spin-then-sleep thread team for running one op on several cores. */
#include "threads.h"

#include "fpmode.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Pause iterations a helper spins before sleeping: ~0.1-0.3 ms, longer than the gap
 * between two ops of one inference, far shorter than the gap between requests. */
#define LGMS_SPIN 20000

struct lgms_threads {
    int n;
    pthread_t *tids;
    lgms_thread_fn fn;
    void *ctx;
    atomic_uint generation; /* bumped once per run */
    atomic_int remaining;   /* helpers still working on the current run */
    atomic_int stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int sleepers; /* under lock */
};

typedef struct {
    lgms_threads *t;
    int index;
} helper_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *helper_main(void *p) {
    helper_arg a = *(helper_arg *)p;
    free(p);
    lgms_threads *t = a.t;
    unsigned seen = 0;
    (void)lgms_fpmode_enter(); /* this thread only ever runs the engine's work */
    for (;;) {
        unsigned g = atomic_load_explicit(&t->generation, memory_order_acquire);
        for (int i = 0; g == seen && i < LGMS_SPIN; i++) {
            cpu_relax();
            g = atomic_load_explicit(&t->generation, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&t->lock);
            t->sleepers++;
            while ((g = atomic_load_explicit(&t->generation, memory_order_acquire)) == seen && !atomic_load(&t->stop))
                pthread_cond_wait(&t->wake, &t->lock);
            t->sleepers--;
            pthread_mutex_unlock(&t->lock);
        }
        if (atomic_load(&t->stop)) return NULL;
        seen = g;
        t->fn(t->ctx, a.index, t->n);
        atomic_fetch_sub_explicit(&t->remaining, 1, memory_order_release);
    }
}

lgms_threads *lgms_threads_new(int n) {
    if (n < 2) return NULL;
    lgms_threads *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->tids = calloc((size_t)n, sizeof *t->tids);
    if (!t->tids) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    for (int i = 1; i < n; i++) {
        helper_arg *a = malloc(sizeof *a);
        if (a) *a = (helper_arg){t, i};
        if (!a || pthread_create(&t->tids[i], NULL, helper_main, a)) {
            free(a);
            t->n = i; /* stop the ones already started */
            lgms_threads_free(t);
            return NULL;
        }
    }
    t->n = n;
    return t;
}

void lgms_threads_free(lgms_threads *t) {
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->stop, 1);
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    for (int i = 1; i < t->n; i++)
        pthread_join(t->tids[i], NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t->tids);
    free(t);
}

int lgms_threads_count(const lgms_threads *t) { return t ? t->n : 1; }

void lgms_threads_run(lgms_threads *t, lgms_thread_fn fn, void *ctx) {
    if (!t) {
        fn(ctx, 0, 1);
        return;
    }
    t->fn = fn, t->ctx = ctx;
    atomic_store_explicit(&t->remaining, t->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->generation, 1, memory_order_release);
    pthread_mutex_lock(&t->lock);
    if (t->sleepers) pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    fn(ctx, 0, t->n);
    while (atomic_load_explicit(&t->remaining, memory_order_acquire) > 0)
        cpu_relax();
}
