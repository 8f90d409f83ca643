/* threads.h - the engine's intra-op parallelism: a state's small team of threads.
 *
 * lgms_threads_run(t, fn, ctx) runs fn(ctx, i, n) once on each of the n threads of the
 * team (the caller is thread 0) and returns when all have finished. Helpers spin briefly
 * between runs (an inference issues hundreds of short ops back to back) and then sleep, so
 * an idle team costs no CPU. Work is split statically with lgms_split (each op gives a
 * thread one contiguous range of rows, channels or groups), or, where no result depends on
 * the split, in chunks taken in turn (lgms_next_chunk); either way results do not depend on
 * timing. OpenBLAS must run single-threaded inside a team (the caller's job). */
#ifndef LGMS_THREADS_H
#define LGMS_THREADS_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct lgms_threads lgms_threads;
typedef void (*lgms_thread_fn)(void *ctx, int index, int count);

/* A team of n threads (n - 1 helpers are started). NULL when n < 2 or on failure. */
lgms_threads *lgms_threads_new(int n);
void lgms_threads_free(lgms_threads *t);
/* Threads in the team; 1 for NULL (the caller alone). */
int lgms_threads_count(const lgms_threads *t);
/* fn(ctx, i, n) on every thread of the team; with t NULL, fn(ctx, 0, 1) on the caller. */
void lgms_threads_run(lgms_threads *t, lgms_thread_fn fn, void *ctx);

/* Range [*begin, *end) of n items that thread index of count takes. */
static inline void lgms_split(size_t n, int index, int count, size_t *begin, size_t *end) {
    *begin = n * (size_t)index / (size_t)count;
    *end = n * (size_t)(index + 1) / (size_t)count;
}

/* Dynamic shares for work whose results do not depend on which thread computes them
 * (convolution rows, attention heads): each thread takes the next of count chunks from a
 * counter the job holds (zeroed before the run) until none is left, so a thread the host
 * slows down takes fewer. Returns the chunk, or -1. */
static inline int lgms_next_chunk(atomic_int *next, int count) {
    int c = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
    return c < count ? c : -1;
}

#endif
