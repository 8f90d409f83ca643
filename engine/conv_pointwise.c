/* conv_pointwise.c - 1x1 convolution: a panel of input columns in L1, 4 output channels x
 * 24 columns of sums in AVX2 registers, or 8 x 48 in AVX-512 ones where the CPU has them
 * (see the header). */
#include "conv_pointwise.h"

#include <string.h>

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LGMS_HAVE_POINTWISE 1
#else
#define LGMS_HAVE_POINTWISE 0
#endif

#define MR LGMS_POINTWISE_MR /* output channels per register block */
#define NR 24                /* columns per register block: three 8-float vectors */
#define NR512 48             /* columns per AVX-512 register block: three 16-float vectors */
#define PANEL_FLOATS 6144    /* input panel: 24 KiB, within L1 */
#define PANEL512_FLOATS 6144 /* AVX-512 input panel: 24 KiB, or one 48-column block (48 KiB at 256 inputs) */

int lgms_avx512_allowed = 1;

/* Columns per panel: as many register blocks as fit PANEL_FLOATS at this input depth. */
static size_t panel_cols(int cin) {
    size_t blocks = PANEL_FLOATS / ((size_t)cin * NR);
    return (blocks ? blocks : 1) * NR;
}

static size_t panel_cols512(int cin) {
    size_t blocks = PANEL512_FLOATS / ((size_t)cin * NR512);
    return (blocks ? blocks : 1) * NR512;
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

/* the panel (the wider of the two kernels'), and one register block of output for ragged edges */
size_t lgms_pointwise_gemm_scratch(int cin) {
    size_t pc = panel_cols(cin) > panel_cols512(cin) ? panel_cols(cin) : panel_cols512(cin);
    return (size_t)cin * pc + MR * NR;
}

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

/* Columns [p0, p0 + n) of x's cin rows into a panel of width floats a row, zero-padded to
 * the columns the blocks read. */
static void copy_panel(float *dst, const float *x, size_t ldx, size_t p0, size_t n, size_t width, int cin) {
    for (int ci = 0; ci < cin; ci++, dst += width) {
        memcpy(dst, x + (size_t)ci * ldx + p0, sizeof(float) * n);
        memset(dst + n, 0, sizeof(float) * (width - n));
    }
}

/* block() for a ragged edge: its 4 x 24 sums into the edge buffer, then the nr rows' first
 * cols columns to out. */
static void block_via_edge(const float *wp, const float *x, int cin, size_t ldx, float *out, size_t ldo, int nr,
                           size_t cols, float *edge) {
    block(wp, x, cin, ldx, edge, NR);
    for (int r = 0; r < nr; r++)
        memcpy(out + (size_t)r * ldo, edge + r * NR, sizeof(float) * cols);
}

/* The AVX-512 kernel: np 4-row panels at once (wp, wp + 4 cin, ...), 4 np rows x nv
 * 16-float vectors of sums, 4 np nv <= 24 in registers, so each loaded column vector feeds
 * 4 np FMAs: 8 rows x 48 columns for whole blocks (1.2-1.45x a single panel's speed at the
 * network's shapes), 12 x 32 and 24 x 16 for narrow tails, where 8 rows would load a vector
 * and 8 weights for only 8 FMAs; one panel for what is left. Rows past nr and columns
 * outside the last vector's mask not stored. The same sums in the same order as block():
 * a * b + c per input, one rounding each, so the two kernels agree to the bit. */
__attribute__((target("avx512f"), always_inline)) static inline void zblock_np(const float *wp, const float *x, int cin,
                                                                               size_t ldx, float *out, size_t ldo,
                                                                               const int np, const int nv, int nr,
                                                                               __mmask16 last) {
    __m512 c[24][3];
#pragma GCC unroll 24
    for (int r = 0; r < 4 * np; r++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            c[r][v] = _mm512_setzero_ps();
    for (int k = 0; k < cin; k++, x += ldx, wp += MR) {
        __m512 b[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++)
            b[v] = _mm512_loadu_ps(x + 16 * v);
#pragma GCC unroll 24
        for (int r = 0; r < 4 * np; r++) {
            __m512 a = _mm512_set1_ps(wp[(size_t)(r / MR) * MR * cin + r % MR]);
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++)
                c[r][v] = _mm512_fmadd_ps(a, b[v], c[r][v]);
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < nr; r++, out += ldo) {
#pragma GCC unroll 3
        for (int v = 0; v < nv - 1; v++)
            _mm512_storeu_ps(out + 16 * v, c[r][v]);
        _mm512_mask_storeu_ps(out + 16 * (nv - 1), last, c[r][nv - 1]);
    }
}

__attribute__((target("avx512f"))) static void zblock_full(const float *wp, const float *x, int cin, size_t ldx,
                                                           float *out, size_t ldo) {
    zblock_np(wp, x, cin, ldx, out, ldo, 1, 3, MR, 0xffff);
}

__attribute__((target("avx512f"))) static void zblock_part(const float *wp, const float *x, int cin, size_t ldx,
                                                           float *out, size_t ldo, int nv, int nr, __mmask16 last) {
    switch (nv) {
    case 1: zblock_np(wp, x, cin, ldx, out, ldo, 1, 1, nr, last); break;
    case 2: zblock_np(wp, x, cin, ldx, out, ldo, 1, 2, nr, last); break;
    default: zblock_np(wp, x, cin, ldx, out, ldo, 1, 3, nr, last); break;
    }
}

__attribute__((target("avx512f"))) static void zblock8_full(const float *wp, const float *x, int cin, size_t ldx,
                                                            float *out, size_t ldo) {
    zblock_np(wp, x, cin, ldx, out, ldo, 2, 3, 8, 0xffff);
}

/* A tail of nv vectors (the last masked by last) for rows [0, rows), rows a multiple of 4:
 * blocks of 24 x 16 or 12 x 32 while they fit, then of 8 rows, then of 4. */
__attribute__((target("avx512f"))) static void zblock_tail(const float *wp, const float *x, int cin, size_t ldx,
                                                           float *out, size_t ldo, int rows, int nv, __mmask16 last) {
    int o0 = 0;
    if (nv == 1)
        for (; o0 + 24 <= rows; o0 += 24)
            zblock_np(wp + (size_t)o0 * cin, x, cin, ldx, out + (size_t)o0 * ldo, ldo, 6, 1, 24, last);
    if (nv == 2)
        for (; o0 + 12 <= rows; o0 += 12)
            zblock_np(wp + (size_t)o0 * cin, x, cin, ldx, out + (size_t)o0 * ldo, ldo, 3, 2, 12, last);
    for (; o0 + 4 <= rows; o0 += o0 + 8 <= rows ? 8 : 4) {
        const float *w = wp + (size_t)o0 * cin;
        float *o = out + (size_t)o0 * ldo;
        int np = o0 + 8 <= rows ? 2 : 1;
        if (nv == 1)
            np == 2 ? zblock_np(w, x, cin, ldx, o, ldo, 2, 1, 8, last)
                    : zblock_np(w, x, cin, ldx, o, ldo, 1, 1, 4, last);
        else if (nv == 2)
            np == 2 ? zblock_np(w, x, cin, ldx, o, ldo, 2, 2, 8, last)
                    : zblock_np(w, x, cin, ldx, o, ldo, 1, 2, 4, last);
        else
            np == 2 ? zblock_np(w, x, cin, ldx, o, ldo, 2, 3, 8, last)
                    : zblock_np(w, x, cin, ldx, o, ldo, 1, 3, 4, last);
    }
}

/* lgms_pointwise_gemm on AVX-512: panels of whole 48-column blocks, 8 rows at a time while
 * they last, then 4; the last block of a panel as narrow as its columns (in 16s, the last
 * vector masked; a tail of exactly 24 on the AVX2 block, whose three 8-float vectors it
 * fills), short row panels stored directly. Panels are read in place when their blocks
 * read no column past ncols and rows of x are at most 320 floats apart (Winograd's
 * products: 1.2-1.4x the copied speed there); otherwise copied, as rows far apart stride
 * pages (a 512-float stride ran at 0.8, 4096 at 0.6 of the copied speed). */
static void gemm512(const float *wp, int rows, int cin, const float *x, size_t ldx, size_t ncols, float *out,
                    size_t ldo, float *scratch) {
    size_t pc = panel_cols512(cin);
    float *edge = scratch + (size_t)cin * pc;
    for (size_t p0 = 0; p0 < ncols; p0 += pc) {
        size_t n = ncols - p0 < pc ? ncols - p0 : pc, full = n / NR512 * NR512, rem = n - full;
        size_t width = rem == NR ? n : (n + 15) / 16 * 16; /* columns the blocks read */
        const float *pan = x + p0;
        size_t ldp = ldx;
        if (width != n || ldx > 320) {
            copy_panel(scratch, x, ldx, p0, n, width, cin);
            pan = scratch, ldp = width;
        }
        int o0 = 0;
        for (; o0 + 2 * MR <= rows; o0 += 2 * MR) {
            const float *w = wp + (size_t)o0 * cin;
            float *o = out + (size_t)o0 * ldo + p0;
            for (size_t j = 0; j < full; j += NR512)
                zblock8_full(w, pan + j, cin, ldp, o + j, ldo);
            if (rem == NR) {
                block(w, pan + full, cin, ldp, o + full, ldo);
                block(w + (size_t)MR * cin, pan + full, cin, ldp, o + full + (size_t)MR * ldo, ldo);
            }
        }
        if (rem && rem != NR) {
            int nv = (int)(rem + 15) / 16;
            zblock_tail(wp, pan + full, cin, ldp, out + p0 + full, ldo, o0, nv,
                        (__mmask16)(0xffffu >> (16 * nv - rem)));
        }
        for (; o0 < rows; o0 += MR) {
            const float *w = wp + (size_t)o0 * cin;
            int nr = rows - o0 < MR ? rows - o0 : MR;
            float *o = out + (size_t)o0 * ldo + p0;
            for (size_t j = 0; j < full; j += NR512)
                if (nr == MR)
                    zblock_full(w, pan + j, cin, ldp, o + j, ldo);
                else
                    zblock_part(w, pan + j, cin, ldp, o + j, ldo, 3, nr, 0xffff);
            if (rem == NR && nr == MR) {
                block(w, pan + full, cin, ldp, o + full, ldo);
            } else if (rem == NR) {
                block_via_edge(w, pan + full, cin, ldp, o + full, ldo, nr, NR, edge);
            } else if (rem) {
                int nv = (int)(rem + 15) / 16;
                zblock_part(w, pan + full, cin, ldp, o + full, ldo, nv, nr, (__mmask16)(0xffffu >> (16 * nv - rem)));
            }
        }
    }
}
#endif

void lgms_pointwise_gemm(const float *wp, int rows, int cin, const float *x, size_t ldx, size_t ncols, float *out,
                         size_t ldo, float *scratch) {
#if LGMS_HAVE_POINTWISE
    if (lgms_cpu_has_avx512()) {
        gemm512(wp, rows, cin, x, ldx, ncols, out, ldo, scratch);
        return;
    }
    size_t pc = panel_cols(cin);
    float *panel = scratch, *edge = scratch + (size_t)cin * pc;
    for (size_t p0 = 0; p0 < ncols; p0 += pc) {
        size_t n = ncols - p0 < pc ? ncols - p0 : pc, full = n / NR * NR, width = (n + NR - 1) / NR * NR;
        const float *pan = x; /* x laid out as a panel already: read in place */
        if (p0 || n != width || ldx != width) {
            copy_panel(panel, x, ldx, p0, n, width, cin); /* zero-padded to whole register blocks */
            pan = panel;
        }
        for (int o0 = 0; o0 < rows; o0 += MR) {
            const float *w = wp + (size_t)o0 * cin;
            int nr = rows - o0 < MR ? rows - o0 : MR;
            float *o = out + (size_t)o0 * ldo + p0;
            for (size_t j = 0; j < full && nr == MR; j += NR)
                block(w, pan + j, cin, width, o + j, ldo);
            for (size_t j = nr == MR ? full : 0; j < n; j += NR) /* ragged: through the edge buffer */
                block_via_edge(w, pan + j, cin, width, o + j, ldo, nr, n - j < NR ? n - j : NR, edge);
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
