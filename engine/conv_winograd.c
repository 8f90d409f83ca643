/* conv_winograd.c - 3x3 convolution by Winograd F(2x2, 3x3) on OpenBLAS sgemm (see the
 * header). With d a 4x4 input block (one row and column of zero padding around the plane),
 * g a 3x3 filter and
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1],
 * the 2x2 outputs are A^T [(G g G^T) .* (B^T d B)] A. Blocks are taken a row of blocks at a
 * time, in chunks sized to stay near L2, and every transform runs along whole rows so it
 * vectorises. */
#include "conv_winograd.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "conv_pointwise.h"
#include "vecmath.h"

#define CHUNK_FLOATS (1u << 20) /* V and M of one chunk of block rows: ~4 MiB */

int lgms_winograd_layer(const lgms_conv *c) {
    return c->k == 3 && c->kd <= 1 && c->cin / c->groups >= 32 && c->cout / c->groups >= 32;
}

int lgms_winograd_fits(const lgms_conv *c, int d, int h, int w) {
    return c->wino && d == 1 && h % 2 == 0 && w % 2 == 0;
}

/* On AVX2 + FMA the 16 products per block run on conv_pointwise.c's kernel (1.2-1.8x
 * sgemm's speed at these depths), whose filters are packed in 4-row panels; elsewhere on
 * sgemm with plain rows. Floats of one (group, xi) matrix, either way: */
static size_t u_matrix_size(const lgms_conv *c) {
    return lgms_pointwise_packed_size(c->cout / c->groups, c->cin / c->groups);
}

static int use_pointwise(void) { return lgms_cpu_has_avx2_fma(); }

size_t lgms_winograd_weights_size(const lgms_conv *c) { return (size_t)16 * c->groups * u_matrix_size(c); }

/* U[g][xi] = (G f G^T)[xi / 4][xi % 4] over [co][ci], computed in double, then packed for the
 * pointwise kernel or left in rows for sgemm. */
int lgms_winograd_transform_weights(const lgms_conv *c, float *dst) {
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups;
    size_t um = u_matrix_size(c), plain_size = (size_t)cout_g * cin_g;
    float *plain = use_pointwise() ? malloc(sizeof(float) * plain_size * 16) : NULL;
    if (use_pointwise() && !plain) return -1;
    for (int g = 0; g < c->groups; g++) {
        for (int co = 0; co < cout_g; co++)
            for (int ci = 0; ci < cin_g; ci++) {
                const float *f = c->weight + ((size_t)(g * cout_g + co) * cin_g + ci) * 9;
                double t[4][3], u[4][4];
                for (int j = 0; j < 3; j++) {
                    t[0][j] = f[j];
                    t[1][j] = 0.5 * ((double)f[j] + f[3 + j] + f[6 + j]);
                    t[2][j] = 0.5 * ((double)f[j] - f[3 + j] + f[6 + j]);
                    t[3][j] = f[6 + j];
                }
                for (int i = 0; i < 4; i++) {
                    u[i][0] = t[i][0];
                    u[i][1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
                    u[i][2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
                    u[i][3] = t[i][2];
                }
                for (int xi = 0; xi < 16; xi++) {
                    float *mat = plain ? plain + xi * plain_size : dst + ((size_t)g * 16 + xi) * um;
                    mat[(size_t)co * cin_g + ci] = (float)u[xi / 4][xi % 4];
                }
            }
        if (plain)
            for (int xi = 0; xi < 16; xi++)
                lgms_pointwise_pack(plain + xi * plain_size, cout_g, cin_g, (size_t)cin_g,
                                    dst + ((size_t)g * 16 + xi) * um);
    }
    free(plain);
    return 0;
}

/* Block rows per chunk. */
static int chunk_rows(const lgms_conv *c, int h, int w) {
    size_t per_row = (size_t)16 * (c->cin / c->groups + c->cout / c->groups) * (size_t)(w / 2);
    size_t rows = CHUNK_FLOATS / per_row;
    if (rows < 1) rows = 1;
    if (rows > (size_t)h / 2) rows = (size_t)h / 2;
    return (int)rows;
}

size_t lgms_winograd_scratch(const lgms_conv *c, int h, int w) {
    size_t nt = (size_t)chunk_rows(c, h, w) * (w / 2);
    size_t v = (size_t)16 * (c->cin / c->groups) * nt, m = (size_t)16 * (c->cout / c->groups) * nt;
    return v + m + 16 * (size_t)(w / 2 + 1) + 64 + lgms_pointwise_gemm_scratch(c->cin / c->groups);
}

/* Row y of a plane split into the even and odd columns of its zero-padded form (one zero
 * column each side): e[k] = padded[2k], o[k] = padded[2k + 1], k = 0 .. w/2. */
LGMS_HOT static void split_row(const float *restrict row, int w, float *restrict e, float *restrict o) {
    int tw = w / 2;
    e[0] = 0.0f, o[tw] = 0.0f;
    for (int k = 0; k < tw; k++) {
        o[k] = row[2 * k];
        e[k + 1] = row[2 * k + 1];
    }
}

/* B^T along the four rows of a block row: t0 = r0 - r2, t1 = r1 + r2, t2 = r2 - r1, t3 = r1 - r3. */
LGMS_HOT static void rows_bt(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                             const float *restrict r3, int n, float *restrict t0, float *restrict t1,
                             float *restrict t2, float *restrict t3) {
    for (int k = 0; k < n; k++) {
        t0[k] = r0[k] - r2[k];
        t1[k] = r1[k] + r2[k];
        t2[k] = r2[k] - r1[k];
        t3[k] = r1[k] - r3[k];
    }
}

/* B along the columns of one transformed row: block k spans padded columns 2k .. 2k + 3. */
LGMS_HOT static void cols_b(const float *restrict e, const float *restrict o, int tw, float *restrict v0,
                            float *restrict v1, float *restrict v2, float *restrict v3) {
    for (int k = 0; k < tw; k++) {
        v0[k] = e[k] - e[k + 1];
        v1[k] = o[k] + e[k + 1];
        v2[k] = e[k + 1] - o[k];
        v3[k] = o[k] - o[k + 1];
    }
}

/* V[xi][t] (xi = 4i + j, xs floats apart) for the blocks of block row ty of one plane;
 * buf holds 16 rows of w/2 + 1 floats. */
static void input_row(const float *plane, int h, int w, int ty, float *v, size_t xs, float *buf) {
    int tw = w / 2, n = tw + 1;
    float *e[4], *o[4], *te[4], *to[4];
    for (int i = 0; i < 4; i++) {
        e[i] = buf + (size_t)i * n, o[i] = buf + (size_t)(4 + i) * n;
        te[i] = buf + (size_t)(8 + i) * n, to[i] = buf + (size_t)(12 + i) * n;
        int y = 2 * ty - 1 + i;
        if (y < 0 || y >= h) {
            memset(e[i], 0, sizeof(float) * (size_t)n);
            memset(o[i], 0, sizeof(float) * (size_t)n);
        } else {
            split_row(plane + (size_t)y * w, w, e[i], o[i]);
        }
    }
    rows_bt(e[0], e[1], e[2], e[3], n, te[0], te[1], te[2], te[3]);
    rows_bt(o[0], o[1], o[2], o[3], n, to[0], to[1], to[2], to[3]);
    for (int i = 0; i < 4; i++) {
        float *v0 = v + (size_t)(4 * i) * xs;
        cols_b(te[i], to[i], tw, v0, v0 + xs, v0 + 2 * xs, v0 + 3 * xs);
    }
}

/* A^T along the rows of the 4x4 results: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3. */
LGMS_HOT static void rows_at(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                             const float *restrict m3, int n, float *restrict s0, float *restrict s1) {
    for (int k = 0; k < n; k++) {
        s0[k] = m0[k] + m1[k] + m2[k];
        s1[k] = m1[k] - m2[k] - m3[k];
    }
}

/* A along the columns, into an output row: block k gives columns 2k and 2k + 1. */
LGMS_HOT static void cols_a(const float *restrict a0, const float *restrict a1, const float *restrict a2,
                            const float *restrict a3, int n, float *restrict out) {
    for (int k = 0; k < n; k++) {
        out[2 * k] = a0[k] + a1[k] + a2[k];
        out[2 * k + 1] = a1[k] - a2[k] - a3[k];
    }
}

/* Output rows 2 ty and 2 ty + 1 of one channel from m[xi][t] (xi xs floats apart); buf
 * holds 8 rows of w/2 floats. */
static void output_row(const float *m, size_t xs, int w, float *o0, float *o1, float *buf) {
    int tw = w / 2;
    float *s0[4], *s1[4];
    for (int j = 0; j < 4; j++) {
        s0[j] = buf + (size_t)j * tw, s1[j] = buf + (size_t)(4 + j) * tw;
        rows_at(m + (size_t)j * xs, m + (size_t)(4 + j) * xs, m + (size_t)(8 + j) * xs, m + (size_t)(12 + j) * xs, tw,
                s0[j], s1[j]);
    }
    cols_a(s0[0], s0[1], s0[2], s0[3], tw, o0);
    cols_a(s1[0], s1[1], s1[2], s1[3], tw, o1);
}

void lgms_winograd_rows(const lgms_conv *c, const float *in, int h, int w, int y0, int y1, float *out, size_t out_cs,
                        float *scratch) {
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, tw = w / 2, rows = chunk_rows(c, h, w);
    size_t plane = (size_t)h * w, ntmax = (size_t)rows * tw;
    float *v = scratch, *m = v + (size_t)16 * cin_g * ntmax, *buf = m + (size_t)16 * cout_g * ntmax;
    float *gemm_scratch = buf + 16 * (size_t)(w / 2 + 1) + 64;
    size_t um = u_matrix_size(c);
    int pointwise = use_pointwise();
    for (int g = 0; g < c->groups; g++) {
        const float *u = c->wino + (size_t)g * 16 * um;
        for (int ty0 = y0 / 2; ty0 < y1 / 2; ty0 += rows) {
            int ty1 = ty0 + rows < y1 / 2 ? ty0 + rows : y1 / 2;
            size_t nt = (size_t)(ty1 - ty0) * tw;
            for (int ci = 0; ci < cin_g; ci++)
                for (int ty = ty0; ty < ty1; ty++)
                    input_row(in + (size_t)(g * cin_g + ci) * plane, h, w, ty,
                              v + (size_t)ci * nt + (size_t)(ty - ty0) * tw, (size_t)cin_g * nt, buf);
            for (int xi = 0; xi < 16; xi++)
                if (pointwise)
                    lgms_pointwise_gemm(u + (size_t)xi * um, cout_g, cin_g, v + (size_t)xi * cin_g * nt, nt, nt,
                                        m + (size_t)xi * cout_g * nt, nt, gemm_scratch);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_g, (int)nt, cin_g, 1.0f,
                                u + (size_t)xi * um, cin_g, v + (size_t)xi * cin_g * nt, (int)nt, 0.0f,
                                m + (size_t)xi * cout_g * nt, (int)nt);
            for (int co = 0; co < cout_g; co++)
                for (int ty = ty0; ty < ty1; ty++) {
                    float *o0 = out + (size_t)(g * cout_g + co) * out_cs + (size_t)(2 * ty - y0) * w;
                    output_row(m + (size_t)co * nt + (size_t)(ty - ty0) * tw, (size_t)cout_g * nt, w, o0, o0 + w, buf);
                }
        }
    }
}
