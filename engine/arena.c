/* arena.c - scratch arena for one engine state; see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define LGMS_ARENA_ALIGN_FLOATS 16 /* 64 bytes */

static void *oom(lgms_arena *a) {
    if (a->on_oom) longjmp(*a->on_oom, 1);
    abort();
}

float *lgms_arena_alloc(lgms_arena *a, size_t nfloats) {
    size_t n = (nfloats + LGMS_ARENA_ALIGN_FLOATS - 1) / LGMS_ARENA_ALIGN_FLOATS * LGMS_ARENA_ALIGN_FLOATS;
    if (n == 0) n = LGMS_ARENA_ALIGN_FLOATS;
    if (n > SIZE_MAX / 8 - a->used) return oom(a);
    size_t at = a->used;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    if (a->used <= a->cap) return a->base + at;
    if (a->n_spill == a->cap_spill) {
        size_t nc = a->cap_spill ? 2 * a->cap_spill : 64;
        void **ns = realloc(a->spill, nc * sizeof *ns);
        if (!ns) return oom(a);
        a->spill = ns, a->cap_spill = nc;
    }
    float *p = aligned_alloc(64, n * sizeof(float));
    if (!p) return oom(a);
    a->spill[a->n_spill++] = p;
    return p;
}

int lgms_arena_settle(lgms_arena *a) {
    for (size_t i = 0; i < a->n_spill; i++)
        free(a->spill[i]);
    a->n_spill = 0;
    a->used = 0;
    if (a->peak <= a->cap) return 0;
    free(a->base);
    a->base = aligned_alloc(64, a->peak * sizeof(float));
    a->cap = a->base ? a->peak : 0;
    return a->base ? 0 : -1;
}

void lgms_arena_free(lgms_arena *a) {
    lgms_arena_settle(a);
    free(a->base);
    free(a->spill);
    a->base = NULL, a->spill = NULL;
    a->cap = a->cap_spill = a->peak = 0;
}
