/* parallel.h - threads lent to the API layer's own work (PNG deflate, base64): the
 * engine state's team between inferences (lgms_state_run), or none. */
#ifndef LGMS_API_PARALLEL_H
#define LGMS_API_PARALLEL_H

/* run(runner, fn, arg) calls fn(arg, i, threads) for every i < threads, at once on that
 * many threads, and returns when all have finished. */
typedef struct {
    void (*run)(void *runner, void (*fn)(void *arg, int index, int count), void *arg);
    void *runner;
    int threads;
} api_parallel;

#endif
