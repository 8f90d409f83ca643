/* upconv.c - a 2-D Up on the input grid (see the header).
 *
 * Along one axis, with in[] the input line and up[] its bilinear x2 blend, a 3x3 tap t
 * (t = 0, 1, 2 for offsets -1, 0, +1) of output 2i + p reads up[2i + p + t - 1], which is
 * sum over a of P[p][t][a] in[i + a - 1] with
 *   P[0] = {{3/4, 1/4, 0}, {1/4, 3/4, 0}, {0, 3/4, 1/4}},
 *   P[1] = {{1/4, 3/4, 0}, {0, 3/4, 1/4}, {0, 1/4, 3/4}},
 * so phase (py, px) of a filter f is K[a][b] = sum over t, u of f[t][u] P[py][t][a] P[px][u][b].
 *
 * Run as a convolution with zero padding, the phases read in[-1] = in[L] = 0, which gives
 * "up" values Z that differ from the true ones T (bilinear clamps, and the 3x3 reads zero
 * outside the upsampled plane) at four places per axis:
 *   Z[-1] - T[-1] = in[0]/4, Z[0] - T[0] = -in[0]/4, Z[2L-1] - T[2L-1] = -in[L-1]/4, Z[2L] - T[2L] = in[L-1]/4.
 * With D = Z - T per axis, Z_y Z_x - T_y T_x = D_y T_x + Z_y D_x: the first term lives on
 * output rows 0, 1, 2h-2 and 2h-1 and reads the first or last input row blended along x as
 * bilinear does; the second on the same columns, reading the first or last input column
 * blended along y as the phases do. Each is a 3-tap filter along its line (the side's
 * weights below) over cin blended lines: one small product per side. */
#include "upconv.h"

#include <cblas.h>
#include <string.h>

#include "ops.h"
#include "vecmath.h"

static const double P[2][3][3] = {{{0.75, 0.25, 0}, {0.25, 0.75, 0}, {0, 0.75, 0.25}},
                                  {{0.25, 0.75, 0}, {0, 0.75, 0.25}, {0, 0.25, 0.75}}};

int lgms_upconv_layer(const lgms_conv *c) {
    return c->k == 3 && c->kd <= 1 && c->groups == 1 && c->cout <= 32 && c->inorm == LGMS_INORM_NONE;
}

static size_t phase_size(const lgms_conv *c) { return (size_t)4 * c->cout * c->cin * 9; }
static size_t edge_size(const lgms_conv *c) { return (size_t)4 * 2 * c->cout * c->cin * 3; }

size_t lgms_upconv_weights_size(const lgms_conv *c) { return phase_size(c) + edge_size(c); }

/* Weight of tap j (along the side's line) in line l of side s, for filter f (3x3, row-major):
 * the coefficients of D above, gathered per output line. */
static double side_weight(const float *f, int s, int l, int j) {
    switch (s) {
    case 0: /* top: row 0 reads Z[-1], Z[0]; row 1 reads Z[0] */
        return l == 0 ? 0.25 * ((double)f[j] - f[3 + j]) : -0.25 * f[j];
    case 1: /* bottom: row 2h-2 reads Z[2L-1]; row 2h-1 reads Z[2L-1], Z[2L] */
        return l == 0 ? -0.25 * f[6 + j] : 0.25 * ((double)f[6 + j] - f[3 + j]);
    case 2: /* left: the same along columns, tap j now the row offset */
        return l == 0 ? 0.25 * ((double)f[3 * j] - f[3 * j + 1]) : -0.25 * f[3 * j];
    default: /* right */ return l == 0 ? -0.25 * f[3 * j + 2] : 0.25 * ((double)f[3 * j + 2] - f[3 * j + 1]);
    }
}

void lgms_upconv_build(lgms_up *u, float *dst) {
    const lgms_conv *c = &u->conv;
    int cin = c->cin, cout = c->cout;
    for (int p = 0; p < 4; p++)
        for (int o = 0; o < cout; o++)
            for (int ci = 0; ci < cin; ci++) {
                const float *f = c->weight + ((size_t)o * cin + ci) * 9;
                float *k = dst + (((size_t)p * cout + o) * cin + ci) * 9;
                for (int a = 0; a < 3; a++)
                    for (int b = 0; b < 3; b++) {
                        double s = 0.0;
                        for (int t = 0; t < 3; t++)
                            for (int v = 0; v < 3; v++)
                                s += f[3 * t + v] * P[p >> 1][t][a] * P[p & 1][v][b];
                        k[3 * a + b] = (float)s;
                    }
            }
    float *e = dst + phase_size(c);
    for (int s = 0; s < 4; s++)
        for (int l = 0; l < 2; l++)
            for (int o = 0; o < cout; o++)
                for (int ci = 0; ci < cin; ci++)
                    for (int j = 0; j < 3; j++)
                        *e++ = (float)side_weight(c->weight + ((size_t)o * cin + ci) * 9, s, l, j);
    u->phases = (lgms_conv){.cin = cin, .cout = 4 * cout, .k = 3, .groups = 1, .weight = dst};
    u->edges = dst + phase_size(c);
}

static size_t side_len(int h, int w) { return 2 * (size_t)(h > w ? h : w); }

size_t lgms_upconv_side_size(const lgms_up *u, int h, int w) { return 2 * (size_t)u->conv.cout * side_len(h, w); }

size_t lgms_upconv_side_scratch(const lgms_up *u, int h, int w) {
    return 3 * (size_t)u->conv.cin * side_len(h, w) + side_len(h, w) + 2;
}

/* The blended line of a side for one input channel, s[-1 .. n] with n = 2L: along the side
 * (top/bottom: the input row blended along x as bilinear does, zero beyond the plane), or
 * across it (left/right: the input column blended along y as the phases do). */
static void side_line(const float *x, size_t stride, int len, int clamp, float *s) {
    for (int k = 0; k < len; k++) {
        float c = x[(size_t)k * stride];
        float lo = k > 0 ? x[(size_t)(k - 1) * stride] : clamp ? c : 0.0f;
        float hi = k + 1 < len ? x[(size_t)(k + 1) * stride] : clamp ? c : 0.0f;
        s[2 * k] = 0.25f * lo + 0.75f * c;
        s[2 * k + 1] = 0.75f * c + 0.25f * hi;
    }
    s[-1] = clamp ? 0.0f : 0.25f * x[0];
    s[2 * len] = clamp ? 0.0f : 0.25f * x[(size_t)(len - 1) * stride];
}

void lgms_upconv_side(const lgms_up *u, const float *in, int h, int w, int side, float *corr, float *scratch) {
    int cin = u->conv.cin, cout = u->conv.cout, rows = side < 2;
    int len = rows ? w : h, n = 2 * len;
    size_t plane = (size_t)h * w, ld = side_len(h, w);
    float *S = scratch, *s = scratch + 3 * (size_t)cin * n + 1;
    for (int ci = 0; ci < cin; ci++) {
        const float *x = in + ci * plane;
        if (rows)
            side_line(x + (side == 0 ? 0 : (size_t)(h - 1) * w), 1, w, 1, s);
        else
            side_line(x + (side == 2 ? 0 : (size_t)w - 1), (size_t)w, h, 0, s);
        for (int j = 0; j < 3; j++) /* tap j of output k reads s[k + j - 1] */
            memcpy(S + ((size_t)ci * 3 + j) * n, s + j - 1, sizeof(float) * (size_t)n);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2 * cout, n, 3 * cin, 1.0f,
                u->edges + (size_t)side * 2 * cout * 3 * cin, 3 * cin, S, n, 0.0f, corr, (int)ld);
}

/* One output row: phases a (even columns) and b (odd) interleaved. */
LGMS_HOT static void interleave(const float *a, const float *b, int w, float *row) {
    for (int j = 0; j < w; j++) {
        row[2 * j] = a[j];
        row[2 * j + 1] = b[j];
    }
}

LGMS_HOT static void subtract(float *row, const float *c, int n) {
    for (int j = 0; j < n; j++)
        row[j] -= c[j];
}

void lgms_upconv_finish(const lgms_up *u, const float *phase, const float *corr, int h, int w, int o, int m0, int m1,
                        float *out) {
    const lgms_conv *c = &u->conv;
    int cout = c->cout, ow = 2 * w;
    size_t plane = (size_t)h * w, ld = side_len(h, w), side = lgms_upconv_side_size(u, h, w);
    const float *top = corr, *bottom = corr + side, *left = corr + 2 * side, *right = corr + 3 * side;
    float bias = c->bias ? c->bias[o] : 0.0f;
    for (int m = m0; m < m1; m++) {
        int py = m & 1;
        const float *a = phase + ((size_t)(2 * py) * cout + o) * plane + (size_t)(m >> 1) * w;
        float *row = out + ((size_t)o * 2 * h + m) * ow;
        interleave(a, a + (size_t)cout * plane, w, row);
        if (m < 2) subtract(row, top + ((size_t)m * cout + o) * ld, ow);
        if (m >= 2 * h - 2) subtract(row, bottom + ((size_t)(m - (2 * h - 2)) * cout + o) * ld, ow);
        for (int l = 0; l < 2; l++) {
            row[l] -= left[((size_t)l * cout + o) * ld + m];
            row[ow - 2 + l] -= right[((size_t)l * cout + o) * ld + m];
        }
        lgms_channel_affine(row, 1, (size_t)ow, NULL, &bias, c->act);
        if (c->post_scale) lgms_channel_affine(row, 1, (size_t)ow, &c->post_scale[o], &c->post_shift[o], LGMS_ACT_NONE);
    }
}
