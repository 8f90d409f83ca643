/* arena.h - per-state scratch memory: a bump allocator with stack-like marks over one
 * large reserved mapping.
 *
 * The mapping is reserved, not committed (MAP_NORESERVE): only pages the graph touches
 * become resident, so resident memory is the graph's true peak, reached in the first run
 * and reused by every later one. No allocation happens during inference. Running past the
 * reservation jumps to the jmp_buf the caller armed (an out-of-memory error). */
#ifndef LGMS_ARENA_H
#define LGMS_ARENA_H

#include <setjmp.h>
#include <stddef.h>

typedef struct {
    float *base;
    size_t cap;  /* floats reserved */
    size_t used; /* floats in use */
    size_t peak; /* high-water mark, floats */
    jmp_buf *on_oom;
} lgms_arena;

/* Reserve address space (largest that the system grants, up to 16 GiB). 0 or -1. */
int lgms_arena_reserve(lgms_arena *a);
float *lgms_arena_alloc(lgms_arena *a, size_t nfloats);
static inline size_t lgms_arena_mark(const lgms_arena *a) { return a->used; }
static inline void lgms_arena_reset(lgms_arena *a, size_t mark) { a->used = mark; }
void lgms_arena_free(lgms_arena *a);

#endif
