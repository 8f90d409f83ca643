/* vecmath.h - branch-free exp, erfc, sigmoid-family helpers that the compiler can
 * vectorise inside array loops (libm's expf/erff are scalar calls).
 *
 * Accuracy: lgms_expf is within ~2 ulp of expf on [-87, 88] (clamped there). lgms_erff is
 * x P(x^2) / Q(x^2), degrees 5/5, fitted for this project by reweighted least squares toward
 * minimax on |x| <= 3.92 and clamped beyond (1 - erf(3.92) = 3e-8): its error is 1.6e-8 in
 * exact arithmetic and 3.8e-7 evaluated in float32, so exact-erf GELU comes out within
 * 1.1e-6. Far inside the engine's 1e-4 parity budget, and with no exp and no long
 * dependency chain it runs several times faster than an erfc-through-exp form. */
#ifndef LGMS_VECMATH_H
#define LGMS_VECMATH_H

#include <stdint.h>
#include <string.h>

/* Hot loops are compiled three times: for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and a
 * baseline; the loader picks one at run time, so one binary runs on any x86-64. (The v4
 * clones may round differently from the v3 ones: ~1e-6 of the logits' scale.) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(LGMS_NO_CLONES)
#define LGMS_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LGMS_HOT
#endif

/* Whether the CPU runs the hand-written AVX2 + FMA kernels. __builtin_cpu_supports reads
 * flags the runtime filled in before main, so any thread may call it at any time. */
static inline int lgms_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* Whether the CPU has AVX-512F, which the hand-written kernels' wide forms use (1x1 and
 * Winograd products, the direct 3x3, GELU/SiLU, attention's softmax). Tests set
 * lgms_avx512_allowed (conv_pointwise.c) to 0 to run the AVX2 forms on the same CPU and
 * compare: they give the same bits, each result being the same chain of operations in the
 * same order, only more of them per instruction. */
extern int lgms_avx512_allowed;
static inline int lgms_cpu_has_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return lgms_avx512_allowed && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

static inline float lgms_expf(float x) {
    x = x > 88.0f ? 88.0f : x; /* keeps 2^n finite */
    x = x < -87.3365447504f ? -87.3365447504f : x;
    /* n = round(x / ln 2) with the 1.5 * 2^23 trick, r = x - n ln 2 in two parts */
    float fn = x * 1.44269504088896341f + 12582912.0f;
    fn -= 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float lgms_erff(float x) {
    x = x > 3.92f ? 3.92f : x;
    x = x < -3.92f ? -3.92f : x;
    float t = x * x;
    float p = 2.034700412e-06f;
    p = p * t + 2.874756714e-04f;
    p = p * t + 3.868296715e-03f;
    p = p * t + 5.306038993e-02f;
    p = p * t + 1.927637644e-01f;
    p = p * t + 1.128379023e+00f;
    float q = 3.807008148e-05f;
    q = q * t + 1.188101724e-03f;
    q = q * t + 1.517224207e-02f;
    q = q * t + 1.150844486e-01f;
    q = q * t + 5.041641060e-01f;
    q = q * t + 1.0f;
    return x * p / q;
}

/* Exact-erf GELU, 0.5 x (1 + erf(x / sqrt 2)) (not the tanh form). */
static inline float lgms_gelu(float x) { return 0.5f * x * (1.0f + lgms_erff(x * 0.70710678118654752f)); }

static inline float lgms_silu(float x) { return x / (1.0f + lgms_expf(-x)); }

#endif
