/* alloc_counter.c - counts allocations made by the project's own code: the unit-test
 * binaries are linked with -Wl,--wrap for malloc, calloc, realloc and aligned_alloc,
 * so every call from our objects passes through here. */
#include <stdatomic.h>
#include <stddef.h>

#include "alloc_counter.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);

static atomic_long calls;

long alloc_counter_calls(void) { return atomic_load(&calls); }

void *__wrap_malloc(size_t n) {
    atomic_fetch_add(&calls, 1);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m) {
    atomic_fetch_add(&calls, 1);
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n) {
    atomic_fetch_add(&calls, 1);
    return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n) {
    atomic_fetch_add(&calls, 1);
    return __real_aligned_alloc(a, n);
}
