/* act_avx2.h - GELU and SiLU over arrays with AVX2 + FMA, with an affine map before and
 * after: y = act(y * s1 + t1) * s2 + t2 (a bias, and a BatchNorm after the activation).
 *
 * The same formulas as vecmath.h (exact-erf GELU through its rational erf, SiLU through
 * lgms_expf's range reduction and polynomial), written with intrinsics: the compiler's
 * vectorisation of the scalar forms spends about a quarter more time on the same
 * arithmetic. Internal to ops.c, which calls them only when lgms_cpu_has_avx2_fma(). */
#ifndef LGMS_ACT_AVX2_H
#define LGMS_ACT_AVX2_H

#include <stddef.h>

void lgms_gelu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2);
void lgms_silu_affine_avx2(float *y, size_t n, float s1, float t1, float s2, float t2);

#endif
