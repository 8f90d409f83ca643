/* attention.c - multi-head self-attention over token rows, never forming the n x n score
 * matrix: for a few queries at a time, their scores against every key, softmax, weighted
 * sum of values. The AVX2 kernel takes eight queries at once, one per vector lane; the
 * portable kernel (auto-vectorised, for CPUs without AVX2) takes one query with K and V
 * transposed ([dh][n]) so its loops run over contiguous keys. */
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

/* K and V of one head, and the scores of eight queries: [n][8] each. */
size_t lgms_attention_scratch(int n) { return (size_t)n * 3 * LGMS_ATTN_MAX_DH + 64; }

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
/* 2^x on 8 lanes for x <= 0 (clamped at -126, where 2^x is below any softmax weight that
 * matters): n = round(x) by the 1.5 * 2^23 trick, f = x - n in [-0.5, 0.5], 2^f by a
 * degree-5 polynomial (relative error 9.2e-8, fitted for this project toward minimax), n
 * added to the exponent bits. Five FMAs, against eleven multiply-class operations for
 * lgms_expf's range reduction and longer polynomial: this is most of the kernel's time. */
__attribute__((target("avx2,fma"))) static inline __m256 exp2_nonpositive8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    x = _mm256_max_ps(x, _mm256_set1_ps(-126.0f));
    __m256 t = _mm256_add_ps(x, magic); /* round(x) in the low mantissa bits */
    __m256 f = _mm256_sub_ps(x, _mm256_sub_ps(t, magic));
    __m256 p = _mm256_set1_ps(1.326472258e-03f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.671513412e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550733763e-02f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402224207e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931469776e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    /* (bits of t) << 23 is round(x) << 23: the magic's own bits shift out */
    __m256i n = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), n));
}

/* Score of one key (row k of [n][8]) for the eight queries: two chains of four FMAs. */
__attribute__((target("avx2,fma"))) static inline __m256 key_scores8(const __m256 *qd, const float *k) {
    __m256 a = _mm256_mul_ps(qd[0], _mm256_broadcast_ss(k));
    __m256 b = _mm256_mul_ps(qd[1], _mm256_broadcast_ss(k + 1));
    for (int d = 2; d < DH; d += 2) {
        a = _mm256_fmadd_ps(qd[d], _mm256_broadcast_ss(k + d), a);
        b = _mm256_fmadd_ps(qd[d + 1], _mm256_broadcast_ss(k + d + 1), b);
    }
    return _mm256_add_ps(a, b);
}

/* od[d] += e * v[d] for one key (row v of [n][8]). */
__attribute__((target("avx2,fma"))) static inline void add_weighted_value8(__m256 *od, __m256 e, const float *v) {
    for (int d = 0; d < DH; d++)
        od[d] = _mm256_fmadd_ps(e, _mm256_broadcast_ss(v + d), od[d]);
}

/* Eight queries at once, one per lane (nq < 8 pads the block with zero queries). K and V
 * rows are [n][8], one key's dims together, and each value is broadcast to the eight
 * lanes, so a key is read once per eight queries from cache instead of once per query.
 * The queries are scaled by scale * log2(e), so scores come out in base 2 and the softmax
 * needs 2^x. Two passes over the keys, two keys per step: scores and their maxima, then
 * exponentials feeding the sums and the eight value accumulators together. */
__attribute__((target("avx2,fma"))) static void attend_block_avx2(const float *q, int ldq, int nq, const float *kc,
                                                                  const float *vc, int n, float scale, float *s,
                                                                  float *o, int ldo) {
    float lanes[DH][8];
    const float qs = scale * 1.44269504088896341f;
    for (int d = 0; d < DH; d++)
        for (int l = 0; l < 8; l++)
            lanes[d][l] = l < nq ? q[(size_t)l * ldq + d] * qs : 0.0f;
    __m256 qd[DH];
    for (int d = 0; d < DH; d++)
        qd[d] = _mm256_loadu_ps(lanes[d]);
    __m256 mx0 = _mm256_set1_ps(-INFINITY), mx1 = mx0;
    int j = 0;
    for (; j + 2 <= n; j += 2) {
        __m256 a = key_scores8(qd, kc + (size_t)j * DH), b = key_scores8(qd, kc + (size_t)(j + 1) * DH);
        _mm256_storeu_ps(s + (size_t)j * 8, a);
        _mm256_storeu_ps(s + (size_t)j * 8 + 8, b);
        mx0 = _mm256_max_ps(mx0, a);
        mx1 = _mm256_max_ps(mx1, b);
    }
    if (j < n) {
        __m256 a = key_scores8(qd, kc + (size_t)j * DH);
        _mm256_storeu_ps(s + (size_t)j * 8, a);
        mx0 = _mm256_max_ps(mx0, a);
    }
    const __m256 mx = _mm256_max_ps(mx0, mx1);
    __m256 sum0 = _mm256_setzero_ps(), sum1 = sum0, od[DH];
    for (int d = 0; d < DH; d++)
        od[d] = _mm256_setzero_ps();
    for (j = 0; j + 2 <= n; j += 2) {
        __m256 e0 = exp2_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(s + (size_t)j * 8), mx));
        __m256 e1 = exp2_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(s + (size_t)j * 8 + 8), mx));
        sum0 = _mm256_add_ps(sum0, e0);
        sum1 = _mm256_add_ps(sum1, e1);
        add_weighted_value8(od, e0, vc + (size_t)j * DH);
        add_weighted_value8(od, e1, vc + (size_t)(j + 1) * DH);
    }
    if (j < n) {
        __m256 e0 = exp2_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(s + (size_t)j * 8), mx));
        sum0 = _mm256_add_ps(sum0, e0);
        add_weighted_value8(od, e0, vc + (size_t)j * DH);
    }
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(sum0, sum1));
    for (int d = 0; d < DH; d++)
        _mm256_storeu_ps(lanes[d], _mm256_mul_ps(od[d], inv));
    for (int l = 0; l < nq; l++)
        for (int d = 0; d < DH; d++)
            o[(size_t)l * ldo + d] = lanes[d][l];
}
#endif

static void attention_heads(const float *qkv, int n, int heads, int dh, float scale, int head_begin, int head_end,
                            float *out, float *scratch, int fast) {
    int inner = heads * dh, ld = 3 * inner;
    if (dh != DH) abort(); /* the graph builder only makes 8-dim heads */
    float *kc = scratch, *vc = scratch + (size_t)DH * n, *s = scratch + (size_t)2 * DH * n;
    for (int e = head_begin; e < head_end; e++) {
        const float *k = qkv + inner + e * dh, *v = qkv + 2 * inner + e * dh;
        /* the AVX2 kernel wants key rows [n][8], the portable one columns [8][n] */
        size_t key_step = fast ? DH : 1, dim_step = fast ? 1 : (size_t)n;
        for (int j = 0; j < n; j++)
            for (int d = 0; d < DH; d++) {
                kc[j * key_step + d * dim_step] = k[(size_t)j * ld + d];
                vc[j * key_step + d * dim_step] = v[(size_t)j * ld + d];
            }
#if LGMS_HAVE_AVX2_ATTENTION
        if (fast) {
            for (int i = 0; i < n; i += 8)
                attend_block_avx2(qkv + (size_t)i * ld + e * dh, ld, n - i < 8 ? n - i : 8, kc, vc, n, scale, s,
                                  out + (size_t)i * inner + e * dh, inner);
            continue;
        }
#endif
        for (int i = 0; i < n; i++)
            attend_one(qkv + (size_t)i * ld + e * dh, kc, vc, n, scale, s, out + (size_t)i * inner + e * dh);
    }
}

void lgms_attention_heads(const float *qkv, int n, int heads, int dh, float scale, int head_begin, int head_end,
                          float *out, float *scratch) {
    int fast = 0;
#if LGMS_HAVE_AVX2_ATTENTION
    fast = lgms_cpu_has_avx2_fma();
#endif
    attention_heads(qkv, n, heads, dh, scale, head_begin, head_end, out, scratch, fast);
}

void lgms_attention_portable(const float *qkv, int n, int heads, int dh, float scale, float *out, float *scratch) {
    attention_heads(qkv, n, heads, dh, scale, 0, heads, out, scratch, 0);
}
