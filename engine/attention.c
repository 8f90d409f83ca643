/* attention.c - multi-head self-attention over token rows, never forming the n x n score
 * matrix: for a few queries at a time, their scores against every key, softmax, weighted
 * sum of values. On AVX2 + FMA a block of 8 queries (32 on AVX-512) keeps its queries,
 * maxima, sums and outputs in registers over two passes of the keys with a base-2 softmax
 * (attention_simd.inc); the portable kernel (auto-vectorised, for CPUs without AVX2) takes
 * one query at a time. Tokens are stored channel-major (feature f of token t at [f][t]),
 * so each head's K and V are rows the loops run along. */
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

/* Queries per block of the vector path: 8 with AVX2, 32 with AVX-512 (attention_simd.inc's
 * QV vectors). */
#define QB_MAX 32

/* The portable kernel: one query's scores, [n]. The vector path: K and V token-major
 * ([n][8] each), a block's scores [n][QB_MAX], its queries and outputs [8][QB_MAX]. */
size_t lgms_attention_scratch(int n) {
    size_t portable = (size_t)n + 64;
    size_t blocked = (size_t)2 * LGMS_ATTN_MAX_DH * n + (size_t)n * QB_MAX + (size_t)2 * LGMS_ATTN_MAX_DH * QB_MAX + 64;
    return portable > blocked ? portable : blocked;
}

/* Reductions keep 8 partial results per output so the loops vectorise without
 * reassociating floats behind the compiler's back; the order of additions is fixed, so
 * results are reproducible. The head dimension is fixed at 8 (every LGMSNet uses 8). */
#define LANES 8
#define DH 8

LGMS_HOT static void attend_one(const float *q, const float *kt, const float *vt, int n, size_t ld, float scale,
                                float *s, float *o) {
    float qv[DH];
    for (int d = 0; d < DH; d++)
        qv[d] = q[d];
    for (int j = 0; j < n; j++) { /* vectorised over keys, dot product over the 8 dims in registers */
        float acc = qv[0] * kt[j];
        for (int d = 1; d < DH; d++)
            acc += qv[d] * kt[(size_t)d * ld + j];
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
                acc[d][l] += s[j + l] * vt[(size_t)d * ld + j + l];
    float inv = 1.0f / sum;
    for (int d = 0; d < DH; d++) {
        float t = 0.0f;
        for (int j = nv; j < n; j++)
            t += s[j] * vt[(size_t)d * ld + j];
        for (int l = 0; l < LANES; l++)
            t += acc[d][l];
        o[d] = t * inv;
    }
}

#if LGMS_HAVE_AVX2_ATTENTION
#define LGMS_SIMD_W 8
#include "simd.h"

#include "attention_simd.inc"
#undef LGMS_SIMD_W
#define LGMS_SIMD_W 16
#include "simd.h"

#include "attention_simd.inc"

/* One head, a block of queries at a time (attention_simd.inc): K and V turned token-major
 * once, the queries scaled by scale * log2(e) so the softmax works in base 2. */
static void attention_head_blocked(const float *qkv, int n, size_t ld, int inner, int e, float scale, float *out,
                                   float *scratch) {
    float *kt = scratch, *vt = kt + (size_t)DH * n, *st = vt + (size_t)DH * n;
    int wide = lgms_cpu_has_avx512(), qb = wide ? QB_MAX : 8;
    float *qt = st + (size_t)n * qb, *ot = qt + DH * qb, inv[QB_MAX];
    const float *q = qkv + (size_t)e * DH * ld, *k = qkv + (size_t)(inner + e * DH) * ld;
    const float *v = qkv + (size_t)(2 * inner + e * DH) * ld;
    for (int j = 0; j < n; j++)
        for (int d = 0; d < DH; d++) {
            kt[(size_t)j * DH + d] = k[(size_t)d * ld + j];
            vt[(size_t)j * DH + d] = v[(size_t)d * ld + j];
        }
    const float qs = scale * 1.44269504088896341f;
    for (int i0 = 0; i0 < n; i0 += qb) {
        int nq = n - i0 < qb ? n - i0 : qb;
        for (int d = 0; d < DH; d++)
            for (int c = 0; c < qb; c++)
                qt[d * qb + c] = c < nq ? q[(size_t)d * ld + i0 + c] * qs : 0.0f;
        if (wide)
            attend_block_16(kt, vt, n, qt, st, ot, inv);
        else
            attend_block_8(kt, vt, n, qt, st, ot, inv);
        for (int d = 0; d < DH; d++)
            for (int c = 0; c < nq; c++)
                out[(size_t)(e * DH + d) * ld + i0 + c] = ot[d * qb + c] * inv[c];
    }
}
#endif

static void attention_heads(const float *qkv, int n, size_t ld, int heads, int dh, float scale, int head_begin,
                            int head_end, float *out, float *scratch, int fast) {
    int inner = heads * dh;
    if (dh != DH) abort(); /* the graph builder only makes 8-dim heads */
    for (int e = head_begin; e < head_end; e++) {
#if LGMS_HAVE_AVX2_ATTENTION
        if (fast) {
            attention_head_blocked(qkv, n, ld, inner, e, scale, out, scratch);
            continue;
        }
#endif
        /* channel-major K and V are the [8][n] the portable kernel reads */
        const float *k = qkv + (size_t)(inner + e * DH) * ld, *v = qkv + (size_t)(2 * inner + e * DH) * ld;
        for (int i = 0; i < n; i++) {
            float q[DH], o[DH];
            for (int d = 0; d < DH; d++)
                q[d] = qkv[(size_t)(e * DH + d) * ld + i];
            attend_one(q, k, v, n, ld, scale, scratch, o);
            for (int d = 0; d < DH; d++)
                out[(size_t)(e * DH + d) * ld + i] = o[d];
        }
    }
}

void lgms_attention_heads(const float *qkv, int n, size_t ld, int heads, int dh, float scale, int head_begin,
                          int head_end, float *out, float *scratch) {
    int fast = 0;
#if LGMS_HAVE_AVX2_ATTENTION
    fast = lgms_cpu_has_avx2_fma();
#endif
    attention_heads(qkv, n, ld, heads, dh, scale, head_begin, head_end, out, scratch, fast);
}

void lgms_attention_portable(const float *qkv, int n, size_t ld, int heads, int dh, float scale, float *out,
                             float *scratch) {
    attention_heads(qkv, n, ld, heads, dh, scale, 0, heads, out, scratch, 0);
}
