/* arena.h - per-state scratch memory: a bump allocator with stack-like marks.
 *
 * The first run at a new input size may not fit; allocations past the end are served
 * from separate blocks and the high-water mark is recorded. lgms_arena_settle() then
 * grows the main block to that mark, so every later run of the same size allocates
 * nothing. Out of memory jumps to the jmp_buf the caller armed. */
#ifndef LGMS_ARENA_H
#define LGMS_ARENA_H

#include <setjmp.h>
#include <stddef.h>

typedef struct {
    float *base;
    size_t cap;  /* floats in base */
    size_t used; /* virtual offset in floats, may exceed cap during a first run */
    size_t peak;
    void **spill; /* blocks handed out past cap, freed by settle */
    size_t n_spill, cap_spill;
    jmp_buf *on_oom;
} lgms_arena;

float *lgms_arena_alloc(lgms_arena *a, size_t nfloats);
static inline size_t lgms_arena_mark(const lgms_arena *a) { return a->used; }
static inline void lgms_arena_reset(lgms_arena *a, size_t mark) { a->used = mark; }
/* After a run: free spilled blocks and grow base to the peak. Returns 0, or -1 if the
 * grow failed (the next run spills again). */
int lgms_arena_settle(lgms_arena *a);
void lgms_arena_free(lgms_arena *a);

#endif
