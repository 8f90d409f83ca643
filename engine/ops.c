/* ops.c - compute kernels: convolution (dispatch to the direct, pointwise and Winograd
 * kernels, else tiled im2col + OpenBLAS sgemm), depthwise convolution, normalisations,
 * activations, pooling and upsampling. Exact inference semantics follow docs/network.md. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "act_avx2.h"
#include "conv_direct.h"
#include "conv_pointwise.h"
#include "conv_winograd.h"
#include "vecmath.h"

#define LGMS_EPS 1e-5
/* im2col tiles are kept near 1 MiB so they stay in cache between im2col and sgemm. */
#define LGMS_COL_TILE_FLOATS (1u << 18)
/* Input row length the upsampler blends in one piece on the stack. */
#define LGMS_UP_MAX_W 4096
/* Columns per 1x1-conv tile (our kernel's, sgemm's), so the epilogue runs on output still
 * in cache. */
#define LGMS_PW_KERNEL_TILE 512
#define LGMS_PW_TILE 2048

/* y = act(y * s + t) over n values; one loop per activation so each vectorises (GELU and
 * SiLU on AVX2 + FMA: act_avx2.c). */
LGMS_HOT static void affine_act(float *y, size_t n, float s, float t, lgms_act act) {
    if ((act == LGMS_ACT_GELU || act == LGMS_ACT_SILU) && lgms_cpu_has_avx2_fma()) {
        (act == LGMS_ACT_GELU ? lgms_gelu_affine_avx2 : lgms_silu_affine_avx2)(y, n, s, t, 1.0f, 0.0f);
        return;
    }
    switch (act) {
    case LGMS_ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            float v = y[i] * s + t;
            y[i] = v > 0.0f ? v : 0.0f;
        }
        break;
    case LGMS_ACT_SILU:
        for (size_t i = 0; i < n; i++)
            y[i] = lgms_silu(y[i] * s + t);
        break;
    case LGMS_ACT_GELU:
        for (size_t i = 0; i < n; i++)
            y[i] = lgms_gelu(y[i] * s + t);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            y[i] = y[i] * s + t;
        break;
    }
}

/* y = act(y + b) * s + t: an activation followed by a BatchNorm that cannot be folded.
 * One pass per activation, like affine_act. */
LGMS_HOT static void act_affine(float *y, size_t n, float b, lgms_act act, float s, float t) {
    if ((act == LGMS_ACT_GELU || act == LGMS_ACT_SILU) && lgms_cpu_has_avx2_fma()) {
        (act == LGMS_ACT_GELU ? lgms_gelu_affine_avx2 : lgms_silu_affine_avx2)(y, n, 1.0f, b, s, t);
        return;
    }
    switch (act) {
    case LGMS_ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            float v = y[i] + b;
            y[i] = (v > 0.0f ? v : 0.0f) * s + t;
        }
        break;
    case LGMS_ACT_SILU:
        for (size_t i = 0; i < n; i++)
            y[i] = lgms_silu(y[i] + b) * s + t;
        break;
    case LGMS_ACT_GELU:
        for (size_t i = 0; i < n; i++)
            y[i] = lgms_gelu(y[i] + b) * s + t;
        break;
    default:
        for (size_t i = 0; i < n; i++)
            y[i] = (y[i] + b) * s + t;
        break;
    }
}

void lgms_activate(float *x, size_t n, lgms_act act) {
    if (act != LGMS_ACT_NONE) affine_act(x, n, 1.0f, 0.0f, act);
}

LGMS_HOT void lgms_add(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static int kdepth(const lgms_conv *c) { return c->kd > 1 ? c->kd : 1; }

/* Output rows (z, y pairs) per im2col tile. */
static int conv_tile_rows(const lgms_conv *c, int rows_total, int w) {
    size_t kk = (size_t)(c->cin / c->groups) * kdepth(c) * c->k * c->k;
    size_t rows = LGMS_COL_TILE_FLOATS / (kk * (size_t)w);
    if (rows < 1) rows = 1;
    if (rows > (size_t)rows_total) rows = (size_t)rows_total;
    return (int)rows;
}

/* Scratch of the path lgms_conv_rows takes when Winograd does not (odd row bounds). */
static size_t plain_scratch(const lgms_conv *c, int d, int h, int w) {
    if (c->k == 1 && kdepth(c) == 1) return c->packed ? lgms_pointwise_scratch(c) : 0;
    if (lgms_conv3x3_direct_ok(c, w)) return lgms_conv3x3_direct_scratch(c, w);
    return (size_t)(c->cin / c->groups) * kdepth(c) * c->k * c->k * (size_t)conv_tile_rows(c, d * h, w) * w;
}

size_t lgms_conv_scratch(const lgms_conv *c, int d, int h, int w) {
    size_t plain = plain_scratch(c, d, h, w);
    if (!lgms_winograd_fits(c, d, h, w)) return plain;
    size_t wino = lgms_winograd_scratch(c, h, w);
    return wino > plain ? wino : plain;
}

/* Rows r0..r1-1 (row r = z*h + y) of the im2col matrix:
 * col[((ci*kd + kz)*k + ky)*k + kx][(r - r0)*w + x]; zero padding kd/2, k/2. */
static void im2col_rows(const float *in, int cin, int d, int h, int w, int k, int kd, int r0, int r1, float *col) {
    int pad = k / 2, padd = kd / 2, ncols = (r1 - r0) * w;
    for (int ci = 0; ci < cin; ci++) {
        const float *vol = in + (size_t)ci * d * h * w;
        for (int kz = 0; kz < kd; kz++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    float *dst = col + (size_t)(((ci * kd + kz) * k + ky) * k + kx) * ncols;
                    int xlo = pad - kx > 0 ? pad - kx : 0;
                    int xhi = w + pad - kx < w ? w + pad - kx : w;
                    for (int r = r0; r < r1; r++, dst += w) {
                        int sz = r / h + kz - padd, sy = r % h + ky - pad;
                        if (sz < 0 || sz >= d || sy < 0 || sy >= h || xhi <= xlo) {
                            memset(dst, 0, sizeof(float) * (size_t)w);
                            continue;
                        }
                        const float *src = vol + ((size_t)sz * h + sy) * w + (kx - pad);
                        if (xlo > 0) memset(dst, 0, sizeof(float) * (size_t)xlo);
                        memcpy(dst + xlo, src + xlo, sizeof(float) * (size_t)(xhi - xlo));
                        if (xhi < w) memset(dst + xhi, 0, sizeof(float) * (size_t)(w - xhi));
                    }
                }
    }
}

/* Bias, activation and post-affine on channels o0..o0+n_out-1 (out_cs floats apart),
 * columns col0..col0+ncols-1; then res (laid out as out; NULL: none) added, while the
 * rows are still in cache. */
static void conv_epilogue(const lgms_conv *c, float *out, size_t out_cs, int o0, int n_out, size_t col0, size_t ncols,
                          const float *res) {
    /* An InstanceNorm right after the conv subtracts each channel's mean: the bias would
     * cancel exactly, so the op leaves the output as it is (and takes no residual). */
    if (c->inorm == LGMS_INORM_BEFORE_ACT) return;
    for (int o = o0; o < o0 + n_out; o++) {
        float *y = out + (size_t)o * out_cs + col0;
        float b = c->bias ? c->bias[o] : 0.0f;
        if (c->post_scale)
            act_affine(y, ncols, b, c->act, c->post_scale[o], c->post_shift[o]);
        else if (b != 0.0f || c->act != LGMS_ACT_NONE)
            affine_act(y, ncols, 1.0f, b, c->act);
        if (res) {
            const float *r = res + (size_t)o * out_cs + col0;
            for (size_t i = 0; i < ncols; i++)
                y[i] += r[i];
        }
    }
}

/* lgms_conv_rows_into, res (NULL, or laid out as out) added after the epilogue. */
static void conv_rows(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end, float *out,
                      size_t out_cs, const float *res, float *scratch) {
    size_t plane = (size_t)d * h * w, base = (size_t)r_begin * w; /* out holds columns from base on */
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, kd = kdepth(c);
    int kk = cin_g * kd * c->k * c->k;
    /* 3x3 with >= 32 inputs and outputs per group: Winograd; fewer outputs: the direct
     * kernel. Both leave raw sums for the epilogue. */
    int step = lgms_conv_row_step(c, d, h, w), wino = step > 1 && r_begin % step == 0 && r_end % step == 0;
    if (wino || lgms_conv3x3_direct_ok(c, w)) {
        if (wino)
            lgms_winograd_rows(c, in, h, w, r_begin, r_end, 0, c->cout, out, out_cs, scratch);
        else
            lgms_conv3x3_direct_rows(c, in, d, h, w, r_begin, r_end, out, out_cs, scratch);
        for (int y = r_begin; y < r_end; y++)
            conv_epilogue(c, out, out_cs, 0, c->cout, (size_t)y * w - base, (size_t)w, res);
        return;
    }
    for (int g = 0; g < c->groups; g++) {
        const float *x = in + (size_t)g * cin_g * plane;
        float *y = out + (size_t)g * cout_g * out_cs;
        const float *wt = c->weight + (size_t)g * cout_g * kk;
        if (c->k == 1 && kd == 1) { /* packed: conv_pointwise.c's kernel (one group); else sgemm */
            size_t end = (size_t)r_end * w, tile = c->packed ? LGMS_PW_KERNEL_TILE : LGMS_PW_TILE;
            for (size_t col0 = base; col0 < end; col0 += tile) {
                size_t n = end - col0 < tile ? end - col0 : tile;
                if (c->packed)
                    lgms_pointwise_cols(c, x, plane, col0, n, y + (col0 - base), out_cs, scratch);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)n, cin_g, 1.0f, wt, kk,
                                x + col0, (int)plane, 0.0f, y + (col0 - base), (int)out_cs);
                conv_epilogue(c, out, out_cs, g * cout_g, cout_g, col0 - base, n, res);
            }
            continue;
        }
        int rows = conv_tile_rows(c, d * h, w);
        for (int r0 = r_begin; r0 < r_end; r0 += rows) {
            int r1 = r0 + rows < r_end ? r0 + rows : r_end;
            int n = (r1 - r0) * w;
            im2col_rows(x, cin_g, d, h, w, c->k, kd, r0, r1, scratch);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, n, kk, 1.0f, wt, kk, scratch, n, 0.0f,
                        y + (size_t)r0 * w - base, (int)out_cs);
            conv_epilogue(c, out, out_cs, g * cout_g, cout_g, (size_t)r0 * w - base, (size_t)n, res);
        }
    }
}

void lgms_conv_rows_into(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end, float *out,
                         size_t out_cs, float *scratch) {
    conv_rows(c, in, d, h, w, r_begin, r_end, out, out_cs, NULL, scratch);
}

void lgms_conv_rows(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end, float *out,
                    const float *res, float *scratch) {
    size_t base = (size_t)r_begin * w;
    conv_rows(c, in, d, h, w, r_begin, r_end, out + base, (size_t)d * h * w, res ? res + base : NULL, scratch);
}

void lgms_conv_outputs(const lgms_conv *c, const float *in, int h, int w, int co0, int co1, float *out,
                       const float *res, float *scratch) {
    size_t plane = (size_t)h * w;
    lgms_winograd_rows(c, in, h, w, 0, h, co0, co1, out, plane, scratch);
    conv_epilogue(c, out, plane, co0, co1 - co0, 0, plane, res);
}

int lgms_conv_row_step(const lgms_conv *c, int d, int h, int w) {
    return lgms_winograd_fits(c, d, h, w) ? LGMS_WINOGRAD_TILE : 1;
}

void lgms_conv_run(const lgms_conv *c, const float *in, int d, int h, int w, float *out, float *scratch) {
    lgms_conv_rows(c, in, d, h, w, 0, d * h, out, NULL, scratch);
}

void lgms_channel_affine(float *x, int channels, size_t plane, const float *scale, const float *shift, lgms_act act) {
    for (int c = 0; c < channels; c++)
        affine_act(x + (size_t)c * plane, plane, scale ? scale[c] : 1.0f, shift ? shift[c] : 0.0f, act);
}

/* Sums of p[i] - shift and of its square over n floats, in one pass: 32 float lanes per
 * block of 4096 (four independent vector chains per sum), blocks added in double, so the
 * error stays that of a 4096-long float sum however large the plane (a 96^3 patch has
 * 884736 voxels). */
LGMS_HOT static void block_sums(const float *p, size_t n, float shift, double *s1, double *s2) {
    double t1 = 0.0, t2 = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += 4096) {
        size_t m = n - i0 < 4096 ? n - i0 : 4096, mv = m / 32 * 32;
        float l1[32] = {0}, l2[32] = {0};
        const float *q = p + i0;
        for (size_t i = 0; i < mv; i += 32)
            for (int l = 0; l < 32; l++) {
                float v = q[i + l] - shift;
                l1[l] += v;
                l2[l] += v * v;
            }
        for (size_t i = mv; i < m; i++) {
            float v = q[i] - shift;
            t1 += v;
            t2 += (double)v * v;
        }
        for (int l = 0; l < 32; l++)
            t1 += l1[l], t2 += l2[l];
    }
    *s1 = t1, *s2 = t2;
}

/* Mean and biased variance of n floats in one pass. The sums are taken about a shift near
 * the mean (the mean of 64 values spread over the data), so the variance, E[(x - s)^2] -
 * (E[x - s])^2, loses nothing to cancellation. */
static void mean_var(const float *p, size_t n, double *mu, double *var) {
    size_t step = n / 64 ? n / 64 : 1, k = 0;
    double est = 0.0;
    for (size_t i = 0; i < n; i += step, k++)
        est += p[i];
    est /= (double)k;
    double s1, s2;
    block_sums(p, n, (float)est, &s1, &s2);
    double d = s1 / (double)n;
    *mu = (double)(float)est + d;
    *var = s2 / (double)n - d * d;
    if (*var < 0.0) *var = 0.0;
}

LGMS_HOT void lgms_group_norm(float *x, int channels, size_t plane, int groups, const float *gamma, const float *beta,
                              lgms_act act) {
    int cg = channels / groups;
    for (int g = 0; g < groups; g++) {
        float *p = x + (size_t)g * cg * plane;
        double mu, var;
        mean_var(p, (size_t)cg * plane, &mu, &var);
        double inv = 1.0 / sqrt(var + LGMS_EPS);
        for (int c = 0; c < cg; c++) {
            int ch = g * cg + c;
            double gm = gamma ? gamma[ch] : 1.0, bt = beta ? beta[ch] : 0.0;
            float s = (float)(inv * gm);
            float t = (float)(bt - mu * inv * gm);
            affine_act(p + (size_t)c * plane, plane, s, t, act);
        }
    }
}

/* Columns per pass of lgms_layer_norm: their sums stay in registers or L1. */
#define LGMS_LN_BLOCK 64

LGMS_HOT void lgms_layer_norm(const float *x, size_t stride, int n, int d, const float *gamma, const float *beta,
                              float *out) {
    for (int c0 = 0; c0 < n; c0 += LGMS_LN_BLOCK) {
        int m = n - c0 < LGMS_LN_BLOCK ? n - c0 : LGMS_LN_BLOCK;
        double sum[LGMS_LN_BLOCK] = {0}, sq[LGMS_LN_BLOCK] = {0};
        float mu[LGMS_LN_BLOCK], inv[LGMS_LN_BLOCK];
        for (int i = 0; i < d; i++) {
            const float *v = x + (size_t)i * stride + c0;
            for (int c = 0; c < m; c++)
                sum[c] += v[c];
        }
        for (int c = 0; c < m; c++)
            sum[c] /= d;
        for (int i = 0; i < d; i++) {
            const float *v = x + (size_t)i * stride + c0;
            for (int c = 0; c < m; c++)
                sq[c] += (v[c] - sum[c]) * (v[c] - sum[c]);
        }
        for (int c = 0; c < m; c++)
            inv[c] = (float)(1.0 / sqrt(sq[c] / d + LGMS_EPS)), mu[c] = (float)sum[c];
        for (int i = 0; i < d; i++) {
            const float *v = x + (size_t)i * stride + c0;
            float *o = out + (size_t)i * stride + c0;
            for (int c = 0; c < m; c++)
                o[c] = (v[c] - mu[c]) * inv[c] * gamma[i] + beta[i];
        }
    }
}

LGMS_HOT void lgms_maxpool2x(const float *in, int channels, int d, int h, int w, float *out) {
    int oh = h / 2, ow = w / 2, od = d > 1 ? d / 2 : 1, zstep = d > 1 ? 2 : 1;
    for (int c = 0; c < channels; c++)
        for (int oz = 0; oz < od; oz++) {
            float *dst = out + ((size_t)c * od + oz) * oh * ow;
            for (int dz = 0; dz < zstep; dz++) {
                const float *src = in + ((size_t)c * d + (size_t)oz * zstep + dz) * h * w;
                for (int y = 0; y < oh; y++) {
                    const float *r0 = src + (size_t)(2 * y) * w, *r1 = r0 + w;
                    float *o = dst + (size_t)y * ow;
                    for (int x = 0; x < ow; x++) {
                        /* plain comparisons, not fmaxf: they vectorise (inputs are never NaN) */
                        float a = r0[2 * x] > r0[2 * x + 1] ? r0[2 * x] : r0[2 * x + 1];
                        float b = r1[2 * x] > r1[2 * x + 1] ? r1[2 * x] : r1[2 * x + 1];
                        float m = a > b ? a : b;
                        o[x] = dz == 0 || m > o[x] ? m : o[x];
                    }
                }
            }
        }
}

/* Source taps of output index o of a x2 half-pixel upsample along an axis of length len. */
static inline void up_taps(int o, int len, int *i0, int *i1, float *w0, float *w1) {
    int k = o / 2;
    if (o % 2 == 0) {
        *i0 = k > 0 ? k - 1 : 0, *i1 = k, *w0 = 0.25f, *w1 = 0.75f;
    } else {
        *i0 = k, *i1 = k + 1 < len ? k + 1 : len - 1, *w0 = 0.75f, *w1 = 0.25f;
    }
}

/* The horizontal x2 of one blended input row r (w values) into 2w outputs. */
static inline void up_expand(const float *r, int w, float *orow) {
    orow[0] = r[0]; /* 0.25 r[-1 -> 0] + 0.75 r[0] */
    for (int k = 1; k < w; k++) {
        orow[2 * k - 1] = 0.75f * r[k - 1] + 0.25f * r[k];
        orow[2 * k] = 0.25f * r[k - 1] + 0.75f * r[k];
    }
    orow[2 * w - 1] = r[w - 1];
}

LGMS_HOT void lgms_upsample2x(const float *in, int channels, int d, int h, int w, float *out) {
    int oh = 2 * h, ow = 2 * w, od = d > 1 ? 2 * d : 1;
    size_t plane = (size_t)h * w, oplane = (size_t)oh * ow;
    float r[LGMS_UP_MAX_W]; /* one input row blended over depth and height */
    for (int c = 0; c < channels; c++) {
        const float *src = in + (size_t)c * d * plane;
        for (int oz = 0; oz < od; oz++) {
            int z0 = 0, z1 = 0;
            float wz0 = 1.0f, wz1 = 0.0f;
            if (d > 1) up_taps(oz, d, &z0, &z1, &wz0, &wz1);
            float *dst = out + ((size_t)c * od + oz) * oplane;
            for (int oy = 0; oy < oh; oy++) {
                int y0, y1;
                float wy0, wy1;
                up_taps(oy, h, &y0, &y1, &wy0, &wy1);
                const float *a0 = src + (size_t)z0 * plane + (size_t)y0 * w,
                            *a1 = src + (size_t)z0 * plane + (size_t)y1 * w;
                const float *b0 = src + (size_t)z1 * plane + (size_t)y0 * w,
                            *b1 = src + (size_t)z1 * plane + (size_t)y1 * w;
                float *orow = dst + (size_t)oy * ow;
                for (int x0 = 0; x0 < w; x0 += LGMS_UP_MAX_W) { /* rows wider than the buffer: in pieces */
                    int n = w - x0 < LGMS_UP_MAX_W ? w - x0 : LGMS_UP_MAX_W;
                    if (d > 1)
                        for (int x = 0; x < n; x++)
                            r[x] = wz0 * (wy0 * a0[x0 + x] + wy1 * a1[x0 + x]) +
                                   wz1 * (wy0 * b0[x0 + x] + wy1 * b1[x0 + x]);
                    else
                        for (int x = 0; x < n; x++)
                            r[x] = wy0 * a0[x0 + x] + wy1 * a1[x0 + x];
                    if (n == w) {
                        up_expand(r, w, orow);
                        continue;
                    }
                    /* a piece: its edges take the neighbouring input column, not a clamp */
                    for (int x = 0; x < n; x++) {
                        int k = x0 + x, km = k > 0 ? k - 1 : 0, kp = k + 1 < w ? k + 1 : w - 1;
                        float rm = d > 1 ? wz0 * (wy0 * a0[km] + wy1 * a1[km]) + wz1 * (wy0 * b0[km] + wy1 * b1[km])
                                         : wy0 * a0[km] + wy1 * a1[km];
                        float rp = d > 1 ? wz0 * (wy0 * a0[kp] + wy1 * a1[kp]) + wz1 * (wy0 * b0[kp] + wy1 * b1[kp])
                                         : wy0 * a0[kp] + wy1 * a1[kp];
                        orow[2 * k] = 0.25f * rm + 0.75f * r[x];
                        orow[2 * k + 1] = 0.75f * r[x] + 0.25f * rp;
                    }
                }
            }
        }
    }
}
