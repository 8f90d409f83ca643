/* fma_peak.c - make bench's measure of this CPU's FP32 peak on one core: independent FMA
 * chains (enough to cover the FMA latency on every pipe) on 256-bit and, where the CPU has
 * AVX-512F, 512-bit vectors. Prints "avx2 G" and "avx512 G" in GFLOP/s (2 per FMA lane).
 * bench.py reports the engine's achieved GFLOP/s against both. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define ITERS 20000000L
#define CHAINS 12

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* GFLOP/s of CHAINS (12) independent chains c = c * a + b of one vector width, in twelve
 * named variables: an array of them stayed on the stack at -O2 (GCC scalarises arrays
 * before it unrolls the loop over them), and the loop then measured store forwarding,
 * 55-66 GFLOP/s, on the build that made bench.py report 300% of the "peak". Each chain
 * passes through an empty asm with a register operand, so the compiler can neither fold
 * the loop nor move the chains to memory; the sum is printed only if impossible. */
#define FMA_RUN(name, isa, vec, prefix, lanes)                                                                         \
    __attribute__((target(isa), always_inline)) static inline vec name##_step(vec c, vec a, vec b) {                   \
        c = prefix##_fmadd_ps(c, a, b);                                                                                \
        __asm__ volatile("" : "+v"(c));                                                                                \
        return c;                                                                                                      \
    }                                                                                                                  \
    __attribute__((target(isa))) static double name(void) {                                                            \
        vec a = prefix##_set1_ps(0.999f), b = prefix##_set1_ps(1e-7f);                                                 \
        vec c0 = prefix##_set1_ps(0.0f), c1 = prefix##_set1_ps(1.0f), c2 = prefix##_set1_ps(2.0f);                     \
        vec c3 = prefix##_set1_ps(3.0f), c4 = prefix##_set1_ps(4.0f), c5 = prefix##_set1_ps(5.0f);                     \
        vec c6 = prefix##_set1_ps(6.0f), c7 = prefix##_set1_ps(7.0f), c8 = prefix##_set1_ps(8.0f);                     \
        vec c9 = prefix##_set1_ps(9.0f), c10 = prefix##_set1_ps(10.0f), c11 = prefix##_set1_ps(11.0f);                 \
        double t0 = now();                                                                                             \
        for (long k = 0; k < ITERS; k++) {                                                                             \
            c0 = name##_step(c0, a, b), c1 = name##_step(c1, a, b), c2 = name##_step(c2, a, b),                        \
            c3 = name##_step(c3, a, b), c4 = name##_step(c4, a, b), c5 = name##_step(c5, a, b);                        \
            c6 = name##_step(c6, a, b), c7 = name##_step(c7, a, b), c8 = name##_step(c8, a, b),                        \
            c9 = name##_step(c9, a, b), c10 = name##_step(c10, a, b), c11 = name##_step(c11, a, b);                    \
        }                                                                                                              \
        double t = now() - t0;                                                                                         \
        float out[lanes];                                                                                              \
        vec s = prefix##_add_ps(prefix##_add_ps(prefix##_add_ps(c0, c1), prefix##_add_ps(c2, c3)),                     \
                                prefix##_add_ps(prefix##_add_ps(c4, c5), prefix##_add_ps(c6, c7)));                    \
        s = prefix##_add_ps(s, prefix##_add_ps(prefix##_add_ps(c8, c9), prefix##_add_ps(c10, c11)));                   \
        prefix##_storeu_ps(out, s);                                                                                    \
        if (out[0] == 12345.0f) puts("");                                                                              \
        return 2.0 * lanes * CHAINS * ITERS / t / 1e9;                                                                 \
    }

FMA_RUN(avx2, "avx2,fma", __m256, _mm256, 8)
FMA_RUN(avx512, "avx512f", __m512, _mm512, 16)

/* best of three: the host's other tenants only slow it */
static double best_of_3(double (*run)(void)) {
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double g = run();
        if (g > best) best = g;
    }
    return best;
}

int main(void) {
    __builtin_cpu_init();
    printf("avx2 %.1f\n", best_of_3(avx2));
    if (__builtin_cpu_supports("avx512f")) printf("avx512 %.1f\n", best_of_3(avx512));
    return 0;
}
