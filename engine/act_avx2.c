/* act_avx2.c - GELU and SiLU with an affine map on each side, 8 lanes at a time, 16 where
 * the CPU has AVX-512 (see the header). Tails shorter than a vector take vecmath.h's scalar
 * forms. */
#include "act_avx2.h"

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* erf(x) for |x| <= 3.92 (clamped), vecmath.h's x P(x^2) / Q(x^2) */
__attribute__((target("avx2,fma"))) static inline __m256 erf8(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(3.92f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-3.92f));
    __m256 t = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(2.034700412e-06f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.874756714e-04f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(3.868296715e-03f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(5.306038993e-02f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.927637644e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.128379023e+00f));
    __m256 q = _mm256_set1_ps(3.807008148e-05f);
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.188101724e-03f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.517224207e-02f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.150844486e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(5.041641060e-01f));
    q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.0f));
    return _mm256_div_ps(_mm256_mul_ps(x, p), q);
}

/* e^x, vecmath.h's lgms_expf: clamped to [-87.3, 88], n = round(x / ln 2), r = x - n ln 2
 * in two parts, a degree-5 polynomial, 2^n into the exponent. */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447504f));
    __m256 fn = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fn, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fn, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fn), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* The same arithmetic on 16 lanes, for CPUs with AVX-512: the same bits per element. */
__attribute__((target("avx512f"))) static inline __m512 erf16(__m512 x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(3.92f));
    x = _mm512_max_ps(x, _mm512_set1_ps(-3.92f));
    __m512 t = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(2.034700412e-06f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(2.874756714e-04f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(3.868296715e-03f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(5.306038993e-02f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.927637644e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.128379023e+00f));
    __m512 q = _mm512_set1_ps(3.807008148e-05f);
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.188101724e-03f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.517224207e-02f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.150844486e-01f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(5.041641060e-01f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.0f));
    return _mm512_div_ps(_mm512_mul_ps(x, p), q);
}

__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365447504f));
    __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fn), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

__attribute__((target("avx512f"))) static size_t gelu_affine16(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    const __m512 a = _mm512_set1_ps(s1), b = _mm512_set1_ps(t1), c = _mm512_set1_ps(s2), d = _mm512_set1_ps(t2);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 rsqrt2 = _mm512_set1_ps(0.70710678118654752f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(y + i), a, b);
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf16(_mm512_mul_ps(v, rsqrt2))));
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(g, c, d));
    }
    return i;
}

__attribute__((target("avx512f"))) static size_t silu_affine16(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    const __m512 a = _mm512_set1_ps(s1), b = _mm512_set1_ps(t1), c = _mm512_set1_ps(s2), d = _mm512_set1_ps(t2);
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(y + i), a, b);
        __m512 s = _mm512_div_ps(v, _mm512_add_ps(one, exp16(_mm512_sub_ps(zero, v))));
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(s, c, d));
    }
    return i;
}

__attribute__((target("avx2,fma"))) void lgms_gelu_affine_avx2(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    const __m256 a = _mm256_set1_ps(s1), b = _mm256_set1_ps(t1), c = _mm256_set1_ps(s2), d = _mm256_set1_ps(t2);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 rsqrt2 = _mm256_set1_ps(0.70710678118654752f);
    size_t i = lgms_cpu_has_avx512() ? gelu_affine16(y, n, s1, t1, s2, t2) : 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(y + i), a, b);
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf8(_mm256_mul_ps(v, rsqrt2))));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(g, c, d));
    }
    for (; i < n; i++)
        y[i] = lgms_gelu(y[i] * s1 + t1) * s2 + t2;
}

__attribute__((target("avx2,fma"))) void lgms_silu_affine_avx2(float *y, size_t n, float s1, float t1, float s2,
                                                               float t2) {
    const __m256 a = _mm256_set1_ps(s1), b = _mm256_set1_ps(t1), c = _mm256_set1_ps(s2), d = _mm256_set1_ps(t2);
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = lgms_cpu_has_avx512() ? silu_affine16(y, n, s1, t1, s2, t2) : 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(y + i), a, b);
        __m256 s = _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(s, c, d));
    }
    for (; i < n; i++)
        y[i] = lgms_silu(y[i] * s1 + t1) * s2 + t2;
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
