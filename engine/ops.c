/* ops.c - compute kernels: convolution (tiled im2col + OpenBLAS sgemm), depthwise
 * convolution, normalisations, activations, pooling, upsampling, linear layers and
 * blocked multi-head attention. Exact inference semantics follow docs/network.md. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_direct.h"
#include "vecmath.h"

#define LGMS_EPS 1e-5
/* im2col tiles are kept near 1 MiB so they stay in cache between im2col and sgemm. */
#define LGMS_COL_TILE_FLOATS (1u << 18)
/* Columns per 1x1-conv tile, so the epilogue runs on cache-hot output. */
#define LGMS_PW_TILE 2048

/* y = act(y * s + t) over n values; one loop per activation so each vectorises. */
LGMS_HOT static void affine_act(float *y, size_t n, float s, float t, lgms_act act) {
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

static int conv_tile_rows(const lgms_conv2d *c, int h, int w) {
    size_t kk = (size_t)(c->cin / c->groups) * c->k * c->k;
    size_t rows = LGMS_COL_TILE_FLOATS / (kk * (size_t)w);
    if (rows < 1) rows = 1;
    if (rows > (size_t)h) rows = (size_t)h;
    return (int)rows;
}

size_t lgms_conv2d_scratch(const lgms_conv2d *c, int h, int w) {
    if (c->k == 1) return 0;
    if (lgms_conv3x3_direct_ok(c, w)) return lgms_conv3x3_direct_scratch(c, w);
    return (size_t)(c->cin / c->groups) * c->k * c->k * (size_t)conv_tile_rows(c, h, w) * w;
}

/* Rows y0..y1-1 of the im2col matrix: col[(ci*k+ky)*k+kx][(y-y0)*w + x]. */
static void im2col_rows(const float *in, int cin, int h, int w, int k, int y0, int y1, float *col) {
    int pad = k / 2, ncols = (y1 - y0) * w;
    for (int ci = 0; ci < cin; ci++) {
        const float *plane = in + (size_t)ci * h * w;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + (size_t)((ci * k + ky) * k + kx) * ncols;
                int xlo = pad - kx > 0 ? pad - kx : 0;
                int xhi = w + pad - kx < w ? w + pad - kx : w;
                for (int y = y0; y < y1; y++, dst += w) {
                    int sy = y + ky - pad;
                    if (sy < 0 || sy >= h || xhi <= xlo) {
                        memset(dst, 0, sizeof(float) * (size_t)w);
                        continue;
                    }
                    const float *src = plane + (size_t)sy * w + (kx - pad);
                    if (xlo > 0) memset(dst, 0, sizeof(float) * (size_t)xlo);
                    memcpy(dst + xlo, src + xlo, sizeof(float) * (size_t)(xhi - xlo));
                    if (xhi < w) memset(dst + xhi, 0, sizeof(float) * (size_t)(w - xhi));
                }
            }
        }
    }
}

/* Bias, activation and post-affine on channels o0..o0+n_out-1, columns col0..col0+ncols-1. */
static void conv_epilogue(const lgms_conv2d *c, float *out, size_t plane, int o0, int n_out, size_t col0,
                          size_t ncols) {
    for (int o = o0; o < o0 + n_out; o++) {
        float *y = out + (size_t)o * plane + col0;
        float b = c->bias ? c->bias[o] : 0.0f;
        if (c->post_scale)
            act_affine(y, ncols, b, c->act, c->post_scale[o], c->post_shift[o]);
        else
            affine_act(y, ncols, 1.0f, b, c->act);
    }
}

void lgms_conv2d_rows(const lgms_conv2d *c, const float *in, int h, int w, int y_begin, int y_end, float *out,
                      float *scratch) {
    size_t plane = (size_t)h * w;
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups;
    int kk = cin_g * c->k * c->k;
    if (lgms_conv3x3_direct_ok(c, w)) { /* few outputs per group: direct kernel, then the epilogue row by row */
        lgms_conv3x3_direct_rows(c, in, h, w, y_begin, y_end, out, scratch);
        for (int y = y_begin; y < y_end; y++)
            conv_epilogue(c, out, plane, 0, c->cout, (size_t)y * w, (size_t)w);
        return;
    }
    for (int g = 0; g < c->groups; g++) {
        const float *x = in + (size_t)g * cin_g * plane;
        float *y = out + (size_t)g * cout_g * plane;
        const float *wt = c->weight + (size_t)g * cout_g * kk;
        if (c->k == 1) {
            size_t end = (size_t)y_end * w;
            for (size_t col0 = (size_t)y_begin * w; col0 < end; col0 += LGMS_PW_TILE) {
                size_t n = end - col0 < LGMS_PW_TILE ? end - col0 : LGMS_PW_TILE;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)n, cin_g, 1.0f, wt, kk, x + col0,
                            (int)plane, 0.0f, y + col0, (int)plane);
                conv_epilogue(c, out, plane, g * cout_g, cout_g, col0, n);
            }
            continue;
        }
        int rows = conv_tile_rows(c, h, w);
        for (int y0 = y_begin; y0 < y_end; y0 += rows) {
            int y1 = y0 + rows < y_end ? y0 + rows : y_end;
            int n = (y1 - y0) * w;
            im2col_rows(x, cin_g, h, w, c->k, y0, y1, scratch);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, n, kk, 1.0f, wt, kk, scratch, n, 0.0f,
                        y + (size_t)y0 * w, (int)plane);
            conv_epilogue(c, out, plane, g * cout_g, cout_g, (size_t)y0 * w, (size_t)n);
        }
    }
}

void lgms_conv2d_nchw(const lgms_conv2d *c, const float *in, int h, int w, float *out, float *scratch) {
    lgms_conv2d_rows(c, in, h, w, 0, h, out, scratch);
}

LGMS_HOT void lgms_depthwise_nchw(const float *in, int channels, int h, int w, int k, const float *weight,
                                  const float *bias, float *out) {
    int pad = k / 2;
    for (int ch = 0; ch < channels; ch++) {
        const float *src = in + (size_t)ch * h * w;
        float *dst = out + (size_t)ch * h * w;
        const float *wk = weight + (size_t)ch * k * k;
        float b = bias ? bias[ch] : 0.0f;
        for (int y = 0; y < h; y++) {
            float *orow = dst + (size_t)y * w;
            for (int x = 0; x < w; x++)
                orow[x] = b;
            for (int ky = 0; ky < k; ky++) {
                int sy = y + ky - pad;
                if (sy < 0 || sy >= h) continue;
                const float *irow = src + (size_t)sy * w;
                for (int kx = 0; kx < k; kx++) {
                    float wv = wk[ky * k + kx];
                    int off = kx - pad;
                    int xlo = off < 0 ? -off : 0;
                    int xhi = off > 0 ? w - off : w;
                    for (int x = xlo; x < xhi; x++)
                        orow[x] += wv * irow[x + off];
                }
            }
        }
    }
}

void lgms_channel_affine(float *x, int channels, size_t plane, const float *scale, const float *shift, lgms_act act) {
    for (int c = 0; c < channels; c++)
        affine_act(x + (size_t)c * plane, plane, scale ? scale[c] : 1.0f, shift ? shift[c] : 0.0f, act);
}

LGMS_HOT void lgms_group_norm(float *x, int channels, size_t plane, int groups, const float *gamma, const float *beta,
                              lgms_act act) {
    int cg = channels / groups;
    for (int g = 0; g < groups; g++) {
        float *p = x + (size_t)g * cg * plane;
        size_t n = (size_t)cg * plane;
        double sum = 0.0, sq = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += p[i];
        double mu = sum / (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = p[i] - mu;
            sq += d * d;
        }
        double inv = 1.0 / sqrt(sq / (double)n + LGMS_EPS);
        for (int c = 0; c < cg; c++) {
            int ch = g * cg + c;
            float s = (float)(inv * gamma[ch]);
            float t = (float)(beta[ch] - mu * inv * gamma[ch]);
            affine_act(p + (size_t)c * plane, plane, s, t, act);
        }
    }
}

LGMS_HOT void lgms_layer_norm(const float *x, int n, int d, const float *gamma, const float *beta, float *out) {
    for (int r = 0; r < n; r++) {
        const float *v = x + (size_t)r * d;
        float *o = out + (size_t)r * d;
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < d; i++)
            sum += v[i];
        double mu = sum / d;
        for (int i = 0; i < d; i++)
            sq += (v[i] - mu) * (v[i] - mu);
        float inv = (float)(1.0 / sqrt(sq / d + LGMS_EPS));
        float fmu = (float)mu;
        for (int i = 0; i < d; i++)
            o[i] = (v[i] - fmu) * inv * gamma[i] + beta[i];
    }
}

LGMS_HOT void lgms_maxpool2x2(const float *in, int channels, int h, int w, float *out) {
    int oh = h / 2, ow = w / 2;
    for (int c = 0; c < channels; c++) {
        const float *src = in + (size_t)c * h * w;
        float *dst = out + (size_t)c * oh * ow;
        for (int y = 0; y < oh; y++) {
            const float *r0 = src + (size_t)(2 * y) * w, *r1 = r0 + w;
            for (int x = 0; x < ow; x++) {
                /* plain comparisons, not fmaxf: they vectorise (inputs are never NaN) */
                float a = r0[2 * x] > r0[2 * x + 1] ? r0[2 * x] : r0[2 * x + 1];
                float b = r1[2 * x] > r1[2 * x + 1] ? r1[2 * x] : r1[2 * x + 1];
                dst[(size_t)y * ow + x] = a > b ? a : b;
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

LGMS_HOT void lgms_upsample2x_bilinear(const float *in, int channels, int h, int w, float *out) {
    int oh = 2 * h, ow = 2 * w;
    for (int c = 0; c < channels; c++) {
        const float *src = in + (size_t)c * h * w;
        float *dst = out + (size_t)c * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            float wy0, wy1;
            up_taps(oy, h, &y0, &y1, &wy0, &wy1);
            const float *r0 = src + (size_t)y0 * w, *r1 = src + (size_t)y1 * w;
            float *orow = dst + (size_t)oy * ow;
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                float wx0, wx1;
                up_taps(ox, w, &x0, &x1, &wx0, &wx1);
                orow[ox] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
            }
        }
    }
}

void lgms_linear(const float *x, int n, int din, const float *weight, const float *bias, int dout, float *out,
                 int accumulate) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, dout, din, 1.0f, x, din, weight, din,
                accumulate ? 1.0f : 0.0f, out, dout);
    if (!bias) return;
    for (int r = 0; r < n; r++) {
        float *o = out + (size_t)r * dout;
        for (int j = 0; j < dout; j++)
            o[j] += bias[j];
    }
}
