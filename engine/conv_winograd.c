/* conv_winograd.c - 3x3 convolution by Winograd F(4x4, 3x3) (see the header). With d a 6x6
 * input block (one row and column of zero padding around the plane), g a 3x3 filter and
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * (interpolation points 0, +-1, +-2 and infinity), the 4x4 outputs are
 * A^T [(G g G^T) .* (B^T d B)] A: 36 products per block of 16 outputs where direct
 * convolution takes 144. Blocks are taken a row of blocks at a time, in chunks of ~4 MiB
 * of transformed data (L2-sized chunks measured 1.2-2x slower: each filter panel then
 * serves too few blocks), and every transform runs along whole rows so it vectorises: a
 * padded input row is split by column phase (column 4k + r into phase r, entry k), which
 * lines block k's six columns up as entry k of phases 0-3 and entry k + 1 of phases 0-1.
 * At 64 input channels the input transform takes ~40% of a layer's time: the next place
 * to look. */
#include "conv_winograd.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "conv_pointwise.h"
#include "vecmath.h"

#define CHUNK_FLOATS (1u << 20)      /* V and M of one chunk of block rows: ~4 MiB */
#define BIG_FILTER_FLOATS (1u << 17) /* one group's transformed filters: 512 KiB */
#define TILE LGMS_WINOGRAD_TILE      /* outputs per block side */
#define NXI 36                       /* products per block: 6 x 6 */
/* Rows of w / 4 + 1 floats the input transform uses for one block row: 24 for the split
 * rows (6 rows x 4 phases), 24 for their B^T rows. (The output side takes 24 rows of a
 * chunk's blocks.) */
#define BUF_ROWS 48

/* lgms_winograd_by_outputs: blocks per thread at or under which threads split a layer by
 * output channels instead of block rows. Split by rows, every thread reads all of the
 * layer's 36 x cin x cout filters and multiplies each with its few blocks only: at 16x16
 * (16 blocks) 256 -> 128 took 0.68 ms on one thread and 0.65 on two, 0.47 split by outputs.
 * Split by outputs, each thread transforms the whole input: at 32x32 (64 blocks) that
 * made 384 -> 128 slower on two threads (1.40 -> 1.57 ms). */
#define OUTPUT_SPLIT_MAX_BLOCKS 16

int lgms_winograd_layer(const lgms_conv *c) {
    return c->k == 3 && c->kd <= 1 && c->cin / c->groups >= 32 && c->cout / c->groups >= 32;
}

int lgms_winograd_fits(const lgms_conv *c, int d, int h, int w) {
    return c->wino && d == 1 && h % TILE == 0 && w % TILE == 0;
}

/* On AVX2 + FMA the 36 products per block run on conv_pointwise.c's kernel (1.2-1.8x
 * sgemm's speed at these depths), whose filters are packed in 4-row panels; elsewhere on
 * sgemm with plain rows. Floats of one (group, xi) matrix, either way: */
static size_t u_matrix_size(const lgms_conv *c) {
    return lgms_pointwise_packed_size(c->cout / c->groups, c->cin / c->groups);
}

static int use_pointwise(void) { return lgms_cpu_has_avx2_fma(); }

size_t lgms_winograd_weights_size(const lgms_conv *c) { return (size_t)NXI * c->groups * u_matrix_size(c); }

/* U[g][xi] = (G f G^T)[xi / 6][xi % 6] over [co][ci], computed in double, then packed for the
 * pointwise kernel or left in rows for sgemm. A panel of output channels (the pointwise
 * kernel's 4, or 1 for sgemm) is built for all 36 matrices in a small buffer and copied or
 * packed out whole: writing the 36 matrices an entry at a time strode them by a multiple of
 * 4 KiB, one L1 set for all, and with a separate packing pass took ~47 ms of the shipped
 * model's load (now ~15). */
int lgms_winograd_transform_weights(const lgms_conv *c, float *dst) {
    static const double G[6][3] = {{0.25, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups;
    int panel = use_pointwise() ? LGMS_POINTWISE_MR : 1;
    size_t um = u_matrix_size(c), rows_size = (size_t)panel * cin_g; /* one panel of one matrix */
    float *rows = malloc(sizeof(float) * NXI * rows_size);
    if (!rows) return -1;
    for (int g = 0; g < c->groups; g++)
        for (int o0 = 0; o0 < cout_g; o0 += panel) {
            int np = cout_g - o0 < panel ? cout_g - o0 : panel;
            for (int r = 0; r < np; r++)
                for (int ci = 0; ci < cin_g; ci++) {
                    const float *f = c->weight + ((size_t)(g * cout_g + o0 + r) * cin_g + ci) * 9;
                    double t[6][3]; /* G f */
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 3; j++)
                            t[i][j] = G[i][0] * f[j] + G[i][1] * f[3 + j] + G[i][2] * f[6 + j];
                    for (int i = 0; i < 6; i++)
                        for (int j = 0; j < 6; j++) /* (G f) G^T */
                            rows[(size_t)(6 * i + j) * rows_size + (size_t)r * cin_g + ci] =
                                (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
                }
            for (int xi = 0; xi < NXI; xi++) {
                float *mat = dst + ((size_t)g * NXI + xi) * um + (size_t)o0 * cin_g;
                if (panel > 1)
                    lgms_pointwise_pack(rows + xi * rows_size, np, cin_g, (size_t)cin_g, mat);
                else
                    memcpy(mat, rows + xi * rows_size, sizeof(float) * cin_g);
            }
        }
    free(rows);
    return 0;
}

/* Block rows per chunk: as many as CHUNK_FLOATS of V and M hold, or 4x that when one
 * group's filters (36 cin x cout matrices) pass BIG_FILTER_FLOATS, since every chunk reads
 * all the filters again and those no longer stay in L2 (384 -> 128 at 32x32, 7 MiB of
 * filters, took 3.6 ms in chunks of 7 + 1 block rows and 2.6 ms in one). Then evened out
 * (14 + 2 rows become 8 + 8), so no chunk reads the filters for a few blocks only. */
static int chunk_rows(const lgms_conv *c, int h, int w) {
    size_t cin_g = (size_t)(c->cin / c->groups), cout_g = (size_t)(c->cout / c->groups), ty = (size_t)h / TILE;
    size_t per_row = NXI * (cin_g + cout_g) * (size_t)(w / TILE);
    size_t budget = NXI * cin_g * cout_g > BIG_FILTER_FLOATS ? 4 * (size_t)CHUNK_FLOATS : CHUNK_FLOATS;
    size_t rows = budget / per_row;
    if (rows < 1) rows = 1;
    if (rows > ty) rows = ty;
    size_t chunks = (ty + rows - 1) / rows;
    return (int)((ty + chunks - 1) / chunks);
}

/* The transforms' rows: the input side's for one block row, the output side's for a chunk. */
static size_t buf_floats(int tw, size_t ntmax) {
    size_t in = BUF_ROWS * (size_t)(tw + 1), outs = 24 * ntmax;
    return in > outs ? in : outs;
}

/* Floats from one of the 36 matrices of V (or M) to the next: rows x nt, plus one cache line
 * when that is a multiple of 4 KiB. The transforms write (and read) all 36 for each block
 * row, and 36 addresses 4 KiB apart share one L1 set of 12 ways: 64 -> 64 at 64x64 had V
 * 64 KiB apart. */
static size_t xi_stride(size_t rows, size_t nt) {
    size_t s = rows * nt;
    return s % 1024 ? s : s + 16;
}

/* Floats from one row of V to the next: nt, plus a cache line when rows would be a multiple
 * of 1 KiB apart (64x64 in one chunk: 256 blocks), where every fourth row of the panel the
 * products read in place falls in the same L1 set. */
static size_t v_row(size_t nt) { return nt % 256 ? nt : nt + 16; }

size_t lgms_winograd_scratch(const lgms_conv *c, int h, int w) {
    size_t nt = (size_t)chunk_rows(c, h, w) * (w / TILE);
    size_t v = (size_t)NXI * xi_stride((size_t)(c->cin / c->groups), v_row(nt)),
           m = (size_t)NXI * xi_stride((size_t)(c->cout / c->groups), nt);
    return v + m + buf_floats(w / TILE, nt) + 64 + lgms_pointwise_gemm_scratch(c->cin / c->groups);
}

/* Row y of a plane split by column phase of its zero-padded form (one zero column each
 * side): p[r][k] = padded[4k + r], k = 0 .. w/4. */
LGMS_HOT static void split_row(const float *restrict row, int w, float *restrict p0, float *restrict p1,
                               float *restrict p2, float *restrict p3) {
    int tw = w / TILE;
    p0[0] = 0.0f;
    for (int k = 0; k < tw; k++) { /* padded[4k + r] = row[4k + r - 1] */
        p1[k] = row[4 * k];
        p2[k] = row[4 * k + 1];
        p3[k] = row[4 * k + 2];
        p0[k + 1] = row[4 * k + 3];
    }
    p1[tw] = p2[tw] = p3[tw] = 0.0f; /* past the right edge: only the zero column is read */
}

/* B^T along six rows: t = B^T r, row by row, n entries. Every row a restrict parameter of
 * its own: reached through arrays of pointers, the compiler could not rule out overlap and
 * left the loop scalar (a third of a 64-channel layer's input transform). */
LGMS_HOT static void rows_bt(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                             const float *restrict r3, const float *restrict r4, const float *restrict r5, int n,
                             float *restrict t0, float *restrict t1, float *restrict t2, float *restrict t3,
                             float *restrict t4, float *restrict t5) {
    for (int k = 0; k < n; k++) {
        float a = r4[k] - 4.0f * r2[k], b = r3[k] - 4.0f * r1[k], c = r4[k] - r2[k], d = 2.0f * (r3[k] - r1[k]);
        t0[k] = 4.0f * r0[k] - 5.0f * r2[k] + r4[k];
        t1[k] = a + b;
        t2[k] = a - b;
        t3[k] = c + d;
        t4[k] = c - d;
        t5[k] = 4.0f * r1[k] - 5.0f * r3[k] + r5[k];
    }
}

/* B along the columns of one transformed row (phases q0..q3): block k's columns are
 * q0[k], q1[k], q2[k], q3[k], q0[k + 1], q1[k + 1]. */
LGMS_HOT static void cols_b(const float *restrict q0, const float *restrict q1, const float *restrict q2,
                            const float *restrict q3, int tw, float *restrict v0, float *restrict v1,
                            float *restrict v2, float *restrict v3, float *restrict v4, float *restrict v5) {
    for (int k = 0; k < tw; k++) {
        float d0 = q0[k], d1 = q1[k], d2 = q2[k], d3 = q3[k], d4 = q0[k + 1], d5 = q1[k + 1];
        float a = d4 - 4.0f * d2, b = d3 - 4.0f * d1, c = d4 - d2, d = 2.0f * (d3 - d1);
        v0[k] = 4.0f * d0 - 5.0f * d2 + d4;
        v1[k] = a + b;
        v2[k] = a - b;
        v3[k] = c + d;
        v4[k] = c - d;
        v5[k] = 4.0f * d1 - 5.0f * d3 + d5;
    }
}

/* V[xi][t] (xi = 6i + j, xs floats apart) for the blocks of block row ty of one plane. */
static void input_row(const float *plane, int h, int w, int ty, float *v, size_t xs, float *buf) {
    int tw = w / TILE, n = tw + 1;
    float *ph[6][4], *tr[4][6]; /* ph[row][phase], tr[phase][transformed row] */
    for (int i = 0; i < 6; i++) {
        for (int r = 0; r < 4; r++)
            ph[i][r] = buf + (size_t)(4 * i + r) * n;
        int y = TILE * ty - 1 + i;
        if (y < 0 || y >= h)
            for (int r = 0; r < 4; r++)
                memset(ph[i][r], 0, sizeof(float) * (size_t)n);
        else
            split_row(plane + (size_t)y * w, w, ph[i][0], ph[i][1], ph[i][2], ph[i][3]);
    }
    /* the four phases of a row lie end to end (ph[i][r] = ph[i][0] + r * n), and so do
     * those of a transformed row: B^T runs once along all four, 4n entries */
    float *trow[6];
    for (int i = 0; i < 6; i++) {
        trow[i] = buf + (size_t)(24 + 4 * i) * n;
        for (int r = 0; r < 4; r++)
            tr[r][i] = trow[i] + (size_t)r * n;
    }
    rows_bt(ph[0][0], ph[1][0], ph[2][0], ph[3][0], ph[4][0], ph[5][0], 4 * n, trow[0], trow[1], trow[2], trow[3],
            trow[4], trow[5]);
    for (int i = 0; i < 6; i++) {
        float *v0 = v + (size_t)(6 * i) * xs;
        cols_b(tr[0][i], tr[1][i], tr[2][i], tr[3][i], tw, v0, v0 + xs, v0 + 2 * xs, v0 + 3 * xs, v0 + 4 * xs,
               v0 + 5 * xs);
    }
}

/* A^T along six rows: s = A^T m, n entries (restrict parameters, as rows_bt's). */
LGMS_HOT static void rows_at(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                             const float *restrict m3, const float *restrict m4, const float *restrict m5, int n,
                             float *restrict s0, float *restrict s1, float *restrict s2, float *restrict s3) {
    for (int k = 0; k < n; k++) {
        float a = m1[k] + m2[k], b = m1[k] - m2[k], c = m3[k] + m4[k], d = m3[k] - m4[k];
        s0[k] = m0[k] + a + c;
        s1[k] = b + 2.0f * d;
        s2[k] = a + 4.0f * c;
        s3[k] = b + 8.0f * d + m5[k];
    }
}

/* A along the columns, into an output row: block k gives columns 4k .. 4k + 3. */
LGMS_HOT static void cols_a(const float *const *a, int n, float *restrict out) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (int k = 0; k < n; k++) {
        float p = a1[k] + a2[k], q = a1[k] - a2[k], r = a3[k] + a4[k], t = a3[k] - a4[k];
        out[4 * k] = a0[k] + p + r;
        out[4 * k + 1] = q + 2.0f * t;
        out[4 * k + 2] = p + 4.0f * r;
        out[4 * k + 3] = q + 8.0f * t + a5[k];
    }
}

/* Output rows 4 ty0 .. 4 ty1 - 1 of one channel (o, w floats apart) from m[xi][t] (xi xs
 * floats apart) for the nt = (ty1 - ty0) * w / 4 blocks of a chunk: A^T down the columns of
 * products for all the chunk's blocks at once (nt entries, not one block row's w / 4: 8 at
 * 32x32, which left most of a 16-lane vector idle), then A along each block row. */
static void output_rows(const float *m, size_t xs, size_t nt, int w, float *o, float *buf) {
    int tw = w / TILE;
    float *s[6][4]; /* s[j][row]: A^T down the column of products j, nt entries */
    for (int j = 0; j < 6; j++) {
        const float *mj[6];
        for (int i = 0; i < 6; i++)
            mj[i] = m + (size_t)(6 * i + j) * xs;
        for (int r = 0; r < 4; r++)
            s[j][r] = buf + (size_t)(4 * j + r) * nt;
        rows_at(mj[0], mj[1], mj[2], mj[3], mj[4], mj[5], (int)nt, s[j][0], s[j][1], s[j][2], s[j][3]);
    }
    for (size_t b = 0; b * tw < nt; b++)
        for (int r = 0; r < 4; r++) {
            const float *a[6];
            for (int j = 0; j < 6; j++)
                a[j] = s[j][r] + b * tw;
            cols_a(a, tw, o + (TILE * b + r) * (size_t)w);
        }
}

int lgms_winograd_by_outputs(const lgms_conv *c, int h, int w, int threads) {
    size_t blocks = (size_t)(h / TILE) * (w / TILE);
    return threads > 1 && c->groups == 1 && c->cout >= 8 * threads &&
           blocks <= OUTPUT_SPLIT_MAX_BLOCKS * (size_t)threads;
}

void lgms_winograd_rows(const lgms_conv *c, const float *in, int h, int w, int y0, int y1, int co0, int co1, float *out,
                        size_t out_cs, float *scratch) {
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, tw = w / TILE, rows = chunk_rows(c, h, w);
    size_t plane = (size_t)h * w, ntmax = (size_t)rows * tw;
    float *v = scratch, *m = v + (size_t)NXI * xi_stride((size_t)cin_g, v_row(ntmax));
    float *buf = m + (size_t)NXI * xi_stride((size_t)cout_g, ntmax);
    float *gemm_scratch = buf + buf_floats(tw, ntmax) + 64;
    size_t um = u_matrix_size(c);
    int pointwise = use_pointwise();
    if (c->groups > 1) co0 = 0, co1 = cout_g; /* the range is for one-group layers */
    int nco = co1 - co0;
    for (int g = 0; g < c->groups; g++) {
        /* rows co0.. of each matrix: co0 * cin_g floats in, packed (co0 a multiple of the
         * panel height) or not */
        const float *u = c->wino + (size_t)g * NXI * um + (size_t)co0 * cin_g;
        for (int ty0 = y0 / TILE; ty0 < y1 / TILE; ty0 += rows) {
            int ty1 = ty0 + rows < y1 / TILE ? ty0 + rows : y1 / TILE;
            size_t nt = (size_t)(ty1 - ty0) * tw, lv = v_row(nt), vs = xi_stride((size_t)cin_g, lv),
                   ms = xi_stride((size_t)nco, nt);
            for (int ci = 0; ci < cin_g; ci++)
                for (int ty = ty0; ty < ty1; ty++)
                    input_row(in + (size_t)(g * cin_g + ci) * plane, h, w, ty,
                              v + (size_t)ci * lv + (size_t)(ty - ty0) * tw, vs, buf);
            for (int xi = 0; xi < NXI; xi++)
                if (pointwise)
                    lgms_pointwise_gemm(u + (size_t)xi * um, nco, cin_g, v + xi * vs, lv, nt, m + xi * ms, nt,
                                        gemm_scratch);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nco, (int)nt, cin_g, 1.0f,
                                u + (size_t)xi * um, cin_g, v + xi * vs, (int)lv, 0.0f, m + xi * ms, (int)nt);
            for (int co = co0; co < co1; co++)
                output_rows(m + (size_t)(co - co0) * nt, ms, nt, w,
                            out + (size_t)(g * cout_g + co) * out_cs + (size_t)(TILE * ty0 - y0) * w, buf);
        }
    }
}
