/* conv_pointwise.c - 1x1 convolution: a panel of input columns in L1, 4 output channels x
 * 24 columns of sums in AVX2 registers (see the header). */
#include "conv_pointwise.h"

#include <string.h>

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LGMS_HAVE_POINTWISE 1
#else
#define LGMS_HAVE_POINTWISE 0
#endif

#define MR 4              /* output channels per register block */
#define NR 24             /* columns per register block: three 8-float vectors */
#define PANEL_FLOATS 6144 /* input panel: 24 KiB, within L1 */

/* Columns per panel: as many register blocks as fit PANEL_FLOATS at this input depth. */
static size_t panel_cols(int cin) {
    size_t blocks = PANEL_FLOATS / ((size_t)cin * NR);
    return (blocks ? blocks : 1) * NR;
}

/* Below 4 output channels (the 1-class head) most of a register block would be padding:
 * sgemm does better there. */
int lgms_pointwise_layer(const lgms_conv *c) {
    return LGMS_HAVE_POINTWISE && lgms_cpu_has_avx2_fma() && c->k == 1 && c->kd <= 1 && c->groups == 1 && c->cout >= MR;
}

size_t lgms_pointwise_weights_size(const lgms_conv *c) { return lgms_pointwise_packed_size(c->cout, c->cin); }

size_t lgms_pointwise_packed_size(int rows, int cols) { return (size_t)(rows + MR - 1) / MR * MR * cols; }

/* dst[o / MR][ci][o % MR], zero rows past the last. */
void lgms_pointwise_pack(const float *w, int rows, int cols, size_t ldw, float *dst) {
    for (int o0 = 0; o0 < rows; o0 += MR)
        for (int ci = 0; ci < cols; ci++)
            for (int r = 0; r < MR; r++)
                *dst++ = o0 + r < rows ? w[(size_t)(o0 + r) * ldw + ci] : 0.0f;
}

void lgms_pointwise_pack_weights(const lgms_conv *c, float *dst) {
    lgms_pointwise_pack(c->weight, c->cout, c->cin, (size_t)c->cin, dst);
}

/* the panel, and one register block of output for ragged edges */
size_t lgms_pointwise_gemm_scratch(int cin) { return (size_t)cin * panel_cols(cin) + MR * NR; }

size_t lgms_pointwise_scratch(const lgms_conv *c) { return lgms_pointwise_gemm_scratch(c->cin); }

#if LGMS_HAVE_POINTWISE
/* MR x NR sums over cin inputs: wp is one packed panel of W, x the input panel (ldx floats
 * a row); row r goes to out + r * ldo. */
__attribute__((target("avx2,fma"))) static void block(const float *wp, const float *x, int cin, size_t ldx, float *out,
                                                      size_t ldo) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (int k = 0; k < cin; k++, x += ldx, wp += MR) {
        __m256 b0 = _mm256_loadu_ps(x), b1 = _mm256_loadu_ps(x + 8), b2 = _mm256_loadu_ps(x + 16);
        __m256 a = _mm256_broadcast_ss(wp);
        c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01), c02 = _mm256_fmadd_ps(a, b2, c02);
        a = _mm256_broadcast_ss(wp + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11), c12 = _mm256_fmadd_ps(a, b2, c12);
        a = _mm256_broadcast_ss(wp + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21), c22 = _mm256_fmadd_ps(a, b2, c22);
        a = _mm256_broadcast_ss(wp + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31), c32 = _mm256_fmadd_ps(a, b2, c32);
    }
    _mm256_storeu_ps(out, c00), _mm256_storeu_ps(out + 8, c01), _mm256_storeu_ps(out + 16, c02);
    out += ldo;
    _mm256_storeu_ps(out, c10), _mm256_storeu_ps(out + 8, c11), _mm256_storeu_ps(out + 16, c12);
    out += ldo;
    _mm256_storeu_ps(out, c20), _mm256_storeu_ps(out + 8, c21), _mm256_storeu_ps(out + 16, c22);
    out += ldo;
    _mm256_storeu_ps(out, c30), _mm256_storeu_ps(out + 8, c31), _mm256_storeu_ps(out + 16, c32);
}
#endif

void lgms_pointwise_gemm(const float *wp, int rows, int cin, const float *x, size_t ldx, size_t ncols, float *out,
                         size_t ldo, float *scratch) {
#if LGMS_HAVE_POINTWISE
    size_t pc = panel_cols(cin);
    float *panel = scratch, *edge = scratch + (size_t)cin * pc;
    for (size_t p0 = 0; p0 < ncols; p0 += pc) {
        size_t n = ncols - p0 < pc ? ncols - p0 : pc, full = n / NR * NR, width = (n + NR - 1) / NR * NR;
        const float *pan = x; /* x laid out as a panel already: read in place */
        if (p0 || n != width || ldx != width) {
            for (int ci = 0; ci < cin; ci++) { /* zero-padded to whole register blocks */
                float *dst = panel + (size_t)ci * width;
                memcpy(dst, x + (size_t)ci * ldx + p0, sizeof(float) * n);
                memset(dst + n, 0, sizeof(float) * (width - n));
            }
            pan = panel;
        }
        for (int o0 = 0; o0 < rows; o0 += MR) {
            const float *w = wp + (size_t)o0 * cin;
            int nr = rows - o0 < MR ? rows - o0 : MR;
            float *o = out + (size_t)o0 * ldo + p0;
            for (size_t j = 0; j < full && nr == MR; j += NR)
                block(w, pan + j, cin, width, o + j, ldo);
            for (size_t j = nr == MR ? full : 0; j < n; j += NR) { /* ragged: through the edge buffer */
                block(w, pan + j, cin, width, edge, NR);
                size_t cols = n - j < NR ? n - j : NR;
                for (int r = 0; r < nr; r++)
                    memcpy(o + (size_t)r * ldo + j, edge + r * NR, sizeof(float) * cols);
            }
        }
    }
#else
    (void)wp, (void)rows, (void)cin, (void)x, (void)ldx, (void)ncols, (void)out, (void)ldo, (void)scratch;
#endif
}

void lgms_pointwise_cols(const lgms_conv *c, const float *in, size_t in_cs, size_t col0, size_t ncols, float *out,
                         size_t out_cs, float *scratch) {
    lgms_pointwise_gemm(c->packed, c->cout, c->cin, in + col0, in_cs, ncols, out, out_cs, scratch);
}
