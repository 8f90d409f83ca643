/* act_avx2.h - GELU and SiLU over arrays with AVX2 + FMA, with an affine map before and
 * after: y = act(y * s1 + t1) * s2 + t2 (a bias, and a BatchNorm after the activation).
 *
 * Exact-erf GELU through vecmath.h's rational erf (its 1 / sqrt 2 folded into the
 * coefficients), SiLU as v / (1 + 2^(-v log2 e)) with a base-2 exponential (12 operations
 * against lgms_expf's 17; 0.30 -> 0.21 ns a value), written with intrinsics: within 4e-6 of
 * the double-precision functions (unit test), and within rounding of vecmath.h's scalar
 * forms, which CPUs without AVX2 run. Internal to ops.c, which calls them only when
 * lgms_cpu_has_avx2_fma(). */
#ifndef LGMS_ACT_AVX2_H
#define LGMS_ACT_AVX2_H

#include <stddef.h>

void lgms_gelu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2);
void lgms_silu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2);

#endif
