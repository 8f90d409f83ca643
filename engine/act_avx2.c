/* act_avx2.c - GELU and SiLU with an affine map on each side, 8 lanes at a time, 16 where
 * the CPU has AVX-512 (see the header; one template, act_simd.inc, for both widths, which
 * give the same bits). A tail shorter than a vector runs through the 8-lane form in a padded
 * buffer, so every value takes the same operations wherever a thread's share of the work
 * happens to end. */
#include "act_avx2.h"

#include <string.h>

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define LGMS_SIMD_W 16
#include "simd.h"

#include "act_simd.inc"
#undef LGMS_SIMD_W
#define LGMS_SIMD_W 8
#include "simd.h"

#include "act_simd.inc"

__attribute__((target("avx2,fma"))) void lgms_gelu_affine_avx2(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    size_t i = lgms_cpu_has_avx512() ? gelu_affine_16(y, n, s1, t1, s2, t2) : 0;
    i += gelu_affine_8(y + i, n - i, s1, t1, s2, t2);
    if (i < n) {
        float tail[8] = {0};
        memcpy(tail, y + i, sizeof(float) * (n - i));
        gelu_affine_8(tail, 8, s1, t1, s2, t2);
        memcpy(y + i, tail, sizeof(float) * (n - i));
    }
}

__attribute__((target("avx2,fma"))) void lgms_silu_affine_avx2(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    size_t i = lgms_cpu_has_avx512() ? silu_affine_16(y, n, s1, t1, s2, t2) : 0;
    i += silu_affine_8(y + i, n - i, s1, t1, s2, t2);
    if (i < n) {
        float tail[8] = {0};
        memcpy(tail, y + i, sizeof(float) * (n - i));
        silu_affine_8(tail, 8, s1, t1, s2, t2);
        memcpy(y + i, tail, sizeof(float) * (n - i));
    }
}
#else
void lgms_gelu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2) {
    for (size_t i = 0; i < n; i++)
        y[i] = lgms_gelu(y[i] * s1 + t1) * s2 + t2;
}

void lgms_silu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2) {
    for (size_t i = 0; i < n; i++)
        y[i] = lgms_silu(y[i] * s1 + t1) * s2 + t2;
}
#endif
