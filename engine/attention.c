/* attention.c - multi-head self-attention over token rows, one query at a time, never
 * forming the n x n score matrix: scores of one query, softmax, weighted sum of values.
 * K and V of one head are kept transposed ([dh][n]) so every loop runs over contiguous
 * keys. An AVX2 kernel takes rows whose key count is a multiple of 8; a portable kernel
 * (auto-vectorised) takes the rest. */
#include <math.h>
#include <stdlib.h>

#include "ops.h"
#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LGMS_HAVE_AVX2_ATTENTION 1
#else
#define LGMS_HAVE_AVX2_ATTENTION 0
#endif

size_t lgms_attention_scratch(int n) { return (size_t)n * (2 * LGMS_ATTN_MAX_DH + 1) + 64; }

/* Reductions keep 8 partial results per output so the loops vectorise without
 * reassociating floats behind the compiler's back; the order of additions is fixed, so
 * results are reproducible. The head dimension is fixed at 8 (every LGMSNet uses 8). */
#define LANES 8
#define DH 8

LGMS_HOT static void attend_one(const float *q, const float *kt, const float *vt, int n, float scale, float *s,
                                float *o) {
    float qv[DH];
    for (int d = 0; d < DH; d++)
        qv[d] = q[d];
    for (int j = 0; j < n; j++) { /* vectorised over keys, dot product over the 8 dims in registers */
        float acc = qv[0] * kt[j];
        for (int d = 1; d < DH; d++)
            acc += qv[d] * kt[(size_t)d * n + j];
        s[j] = acc * scale;
    }
    int nv = n / LANES * LANES;
    float part[LANES];
    for (int l = 0; l < LANES; l++)
        part[l] = -INFINITY;
    for (int j = 0; j < nv; j += LANES)
        for (int l = 0; l < LANES; l++)
            part[l] = s[j + l] > part[l] ? s[j + l] : part[l];
    float mx = -INFINITY;
    for (int j = nv; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    for (int l = 0; l < LANES; l++)
        mx = part[l] > mx ? part[l] : mx;
    for (int l = 0; l < LANES; l++)
        part[l] = 0.0f;
    for (int j = 0; j < nv; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = lgms_expf(s[j + l] - mx);
            s[j + l] = e;
            part[l] += e;
        }
    float sum = 0.0f;
    for (int j = nv; j < n; j++) {
        s[j] = lgms_expf(s[j] - mx);
        sum += s[j];
    }
    for (int l = 0; l < LANES; l++)
        sum += part[l];
    /* o[d] = sum_j s[j] v[d][j]: one 8-lane accumulator per d, eight independent chains */
    float acc[DH][LANES];
    for (int d = 0; d < DH; d++)
        for (int l = 0; l < LANES; l++)
            acc[d][l] = 0.0f;
    for (int j = 0; j < nv; j += LANES)
        for (int d = 0; d < DH; d++)
            for (int l = 0; l < LANES; l++)
                acc[d][l] += s[j + l] * vt[(size_t)d * n + j + l];
    float inv = 1.0f / sum;
    for (int d = 0; d < DH; d++) {
        float t = 0.0f;
        for (int j = nv; j < n; j++)
            t += s[j] * vt[(size_t)d * n + j];
        for (int l = 0; l < LANES; l++)
            t += acc[d][l];
        o[d] = t * inv;
    }
}

#if LGMS_HAVE_AVX2_ATTENTION
/* lgms_expf on 8 lanes: the same range reduction and polynomial. */
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

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* n % 8 == 0. Two passes over the keys: scores and their maximum, then exponentials
 * feeding the softmax sum and the eight value accumulators together. */
__attribute__((target("avx2,fma"))) static void attend_one_avx2(const float *q, const float *kt, const float *vt, int n,
                                                                float scale, float *s, float *o) {
    __m256 qv[DH], mx = _mm256_set1_ps(-INFINITY);
    for (int d = 0; d < DH; d++)
        qv[d] = _mm256_set1_ps(q[d]);
    const __m256 sc = _mm256_set1_ps(scale);
    for (int j = 0; j < n; j += 8) {
        __m256 acc = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kt + j));
        for (int d = 1; d < DH; d++)
            acc = _mm256_fmadd_ps(qv[d], _mm256_loadu_ps(kt + (size_t)d * n + j), acc);
        acc = _mm256_mul_ps(acc, sc);
        _mm256_storeu_ps(s + j, acc);
        mx = _mm256_max_ps(mx, acc);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const __m256 m = _mm256_set1_ps(_mm_cvtss_f32(m4));
    __m256 sum = _mm256_setzero_ps(), od[DH];
    for (int d = 0; d < DH; d++)
        od[d] = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
        sum = _mm256_add_ps(sum, e);
        for (int d = 0; d < DH; d++)
            od[d] = _mm256_fmadd_ps(e, _mm256_loadu_ps(vt + (size_t)d * n + j), od[d]);
    }
    float inv = 1.0f / hsum8(sum);
    for (int d = 0; d < DH; d++)
        o[d] = hsum8(od[d]) * inv;
}
#endif

void lgms_attention_heads(const float *qkv, int n, int heads, int dh, float scale, int head_begin, int head_end,
                          float *out, float *scratch) {
    int inner = heads * dh, ld = 3 * inner;
    if (dh != DH) abort(); /* the graph builder only makes 8-dim heads */
    float *kt = scratch, *vt = scratch + (size_t)dh * n, *s = scratch + (size_t)2 * dh * n;
    int fast = 0;
#if LGMS_HAVE_AVX2_ATTENTION
    fast = lgms_cpu_has_avx2_fma() && n % 8 == 0;
#endif
    for (int e = head_begin; e < head_end; e++) {
        const float *k = qkv + inner + e * dh, *v = qkv + 2 * inner + e * dh;
        for (int j = 0; j < n; j++)
            for (int d = 0; d < dh; d++) {
                kt[(size_t)d * n + j] = k[(size_t)j * ld + d];
                vt[(size_t)d * n + j] = v[(size_t)j * ld + d];
            }
        for (int i = 0; i < n; i++) {
            const float *q = qkv + (size_t)i * ld + e * dh;
            float *o = out + (size_t)i * inner + e * dh;
#if LGMS_HAVE_AVX2_ATTENTION
            if (fast) {
                attend_one_avx2(q, kt, vt, n, scale, s, o);
                continue;
            }
#endif
            attend_one(q, kt, vt, n, scale, s, o);
        }
    }
}

void lgms_attention(const float *qkv, int n, int heads, int dh, float scale, float *out, float *scratch) {
    lgms_attention_heads(qkv, n, heads, dh, scale, 0, heads, out, scratch);
}
