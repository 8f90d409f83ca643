/* vecmath.h - branch-free exp, erfc, sigmoid-family helpers that the compiler can
 * vectorise inside array loops (libm's expf/erff are scalar calls).
 *
 * Accuracy: lgms_expf is within ~2 ulp of expf on [-87, 88] (clamped there); lgms_erfcf has a relative
 * error below 1.2e-7 (a Chebyshev fit of t*exp(-z^2 + P(t)), t = 1/(1 + z/2)). Both are
 * far inside the engine's 1e-4 parity budget. */
#ifndef LGMS_VECMATH_H
#define LGMS_VECMATH_H

#include <stdint.h>
#include <string.h>

/* Hot kernels are compiled twice: for x86-64-v3 (AVX2 + FMA) and a baseline; the loader
 * picks one at run time, so one binary runs on any x86-64. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(LGMS_NO_CLONES)
#define LGMS_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LGMS_HOT
#endif

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

/* erfc(z) for z >= 0. */
static inline float lgms_erfcf_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * lgms_expf(-z * z + p);
}

/* Exact-erf GELU, 0.5 x (1 + erf(x / sqrt 2)), written through erfc so that the negative
 * tail keeps its relative accuracy. */
static inline float lgms_gelu(float x) {
    float z = x * 0.70710678118654752f;
    float az = z < 0.0f ? -z : z;
    float half_erfc = 0.5f * lgms_erfcf_pos(az);
    return x < 0.0f ? x * half_erfc : x * (1.0f - half_erfc);
}

static inline float lgms_silu(float x) { return x / (1.0f + lgms_expf(-x)); }

#endif
