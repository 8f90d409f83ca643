/* depthwise.c - depthwise convolution: one k x k filter per channel (kd x k x k in 3-D),
 * with bias, zero padding k/2 (kd/2), stride 1. On AVX2 + FMA each block of up to four
 * vectors of an output row is summed in registers over all its tap rows
 * (depthwise_simd.inc, 16 lanes where the CPU has AVX-512: the same bits), reading input
 * rows from a ring of zero-padded copies (each row copied once per output slice); rows
 * too wide for the ring read a padded copy of a block's columns where it reaches past an
 * end. The loop it replaced added each tap row's sums into the output row in memory (a
 * load and a store of the output per tap row) and copied every input row k times: 1.3x
 * the time, in 2-D and 3-D. CPUs without AVX2 take that portable loop. */
#include <string.h>

#include "ops.h"
#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define LGMS_HAVE_DW_SIMD 1
#define LGMS_SIMD_W 8
#include "simd.h"

#include "depthwise_simd.inc"
#undef LGMS_SIMD_W
#define LGMS_SIMD_W 16
#include "simd.h"

#include "depthwise_simd.inc"
#else
#define LGMS_HAVE_DW_SIMD 0
#endif

/* Widest row the portable kernel pads on the stack (wider rows take the tap-by-tap path). */
#define LGMS_DW_MAX_W 2048
/* Largest kernel side the vector path takes (LGMSNet's are 3-9), and its widest block. */
#define DW_MAX_K 9
#define DW_BLOCK 64
/* Floats of the ring of padded input rows (80 KiB): 2-D rows up to 2048 wide at k = 9,
 * 3-D rows up to ~180 at k = 9; wider rows read padded copies block by block. */
#define DW_RING_FLOATS 20480

/* orow[x] += sum_kx wrow[kx] * prow[x + kx] over w outputs, prow zero-padded by k/2 each
 * side. With k a constant the tap loop unrolls and the x loop vectorises: one load and one
 * store of orow per input row instead of per tap. */
static inline __attribute__((always_inline)) void dw_row(const float *prow, const float *wrow, float *orow, int w,
                                                         const int k) {
    for (int x = 0; x < w; x++) {
        float s = 0.0f;
        for (int kx = 0; kx < k; kx++)
            s += wrow[kx] * prow[x + kx];
        orow[x] += s;
    }
}

LGMS_HOT static void depthwise_portable(const float *in, int channels, int d, int h, int w, int k, int kd,
                                        const float *weight, const float *bias, float *out) {
    int pad = k / 2, padd = kd / 2;
    size_t plane = (size_t)h * w;
    float prow[LGMS_DW_MAX_W + 16]; /* one input row with k/2 zeros each side */
    for (int ch = 0; ch < channels; ch++) {
        const float *src = in + (size_t)ch * d * plane;
        float *dst = out + (size_t)ch * d * plane;
        const float *wk = weight + (size_t)ch * kd * k * k;
        float b = bias ? bias[ch] : 0.0f;
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++) {
                float *orow = dst + (size_t)z * plane + (size_t)y * w;
                for (int x = 0; x < w; x++)
                    orow[x] = b;
                for (int kz = 0; kz < kd; kz++) {
                    int sz = z + kz - padd;
                    if (sz < 0 || sz >= d) continue;
                    for (int ky = 0; ky < k; ky++) {
                        int sy = y + ky - pad;
                        if (sy < 0 || sy >= h) continue;
                        const float *irow = src + (size_t)sz * plane + (size_t)sy * w;
                        const float *wrow = wk + (kz * k + ky) * k;
                        if (w > LGMS_DW_MAX_W || k > 9) { /* wider than the row buffer: tap by tap */
                            for (int kx = 0; kx < k; kx++) {
                                int off = kx - pad, xlo = off < 0 ? -off : 0, xhi = off > 0 ? w - off : w;
                                for (int x = xlo; x < xhi; x++)
                                    orow[x] += wrow[kx] * irow[x + off];
                            }
                            continue;
                        }
                        for (int i = 0; i < pad; i++)
                            prow[i] = prow[pad + w + i] = 0.0f;
                        memcpy(prow + pad, irow, sizeof(float) * (size_t)w);
                        switch (k) {
                        case 3: dw_row(prow, wrow, orow, w, 3); break;
                        case 5: dw_row(prow, wrow, orow, w, 5); break;
                        case 7: dw_row(prow, wrow, orow, w, 7); break;
                        case 9: dw_row(prow, wrow, orow, w, 9); break;
                        default: dw_row(prow, wrow, orow, w, k); break;
                        }
                    }
                }
            }
    }
}

#if LGMS_HAVE_DW_SIMD
/* Output row out (w columns) from its nt tap rows: rows[t] an unpadded input row, wr[t] its
 * k weights. Blocks of 4, 2 or 1 vectors (as wide as the row allows); a block that reaches
 * past either end reads its columns from a zero-padded copy and, past the right end,
 * writes through a buffer. */
static void dw_row_simd(const float *const *rows, const float *const *wr, int nt, int k, int w, float b, float *out,
                        int wide) {
    int pad = k / 2, lanes = wide ? 16 : 8;
    int nv = w >= 4 * lanes ? 4 : w >= 2 * lanes ? 2 : 1, bw = nv * lanes;
    float ebuf[DW_MAX_K * DW_MAX_K][DW_BLOCK + DW_MAX_K - 1], eout[DW_BLOCK];
    const float *src[DW_MAX_K * DW_MAX_K];
    for (int x0 = 0; x0 < w; x0 += bw) {
        int lo = x0 - pad, hi = x0 + bw + pad; /* the columns the block reads */
        if (lo >= 0 && hi <= w) {
            for (int t = 0; t < nt; t++)
                src[t] = rows[t] + lo;
        } else {
            int c0 = lo < 0 ? 0 : lo, c1 = hi < w ? hi : w;
            for (int t = 0; t < nt; t++) {
                float *e = ebuf[t];
                memset(e, 0, sizeof(float) * (size_t)(hi - lo));
                memcpy(e + (c0 - lo), rows[t] + c0, sizeof(float) * (size_t)(c1 - c0));
                src[t] = e;
            }
        }
        float *o = x0 + bw <= w ? out + x0 : eout;
        if (wide)
            dw_block_n_16(src, wr, nt, b, o, k, nv);
        else
            dw_block_n_8(src, wr, nt, b, o, k, nv);
        if (o == eout) memcpy(out + x0, eout, sizeof(float) * (size_t)(w - x0));
    }
}

/* A row block by block from nt rows already padded (k / 2 zeros before the row, at least
 * k / 2 + DW_BLOCK after it): every block reads in place. */
static void dw_row_padded(const float *const *prow, const float *const *wr, int nt, int k, int w, float b, float *out,
                          int wide) {
    int lanes = wide ? 16 : 8, nv = w >= 4 * lanes ? 4 : w >= 2 * lanes ? 2 : 1, bw = nv * lanes;
    float eout[DW_BLOCK];
    const float *src[DW_MAX_K * DW_MAX_K];
    for (int x0 = 0; x0 < w; x0 += bw) {
        for (int t = 0; t < nt; t++)
            src[t] = prow[t] + x0;
        float *o = x0 + bw <= w ? out + x0 : eout;
        if (wide)
            dw_block_n_16(src, wr, nt, b, o, k, nv);
        else
            dw_block_n_8(src, wr, nt, b, o, k, nv);
        if (o == eout) memcpy(out + x0, eout, sizeof(float) * (size_t)(w - x0));
    }
}

static void depthwise_simd(const float *in, int channels, int d, int h, int w, int k, int kd, const float *weight,
                           const float *bias, float *out) {
    int pad = k / 2, padd = kd / 2, wide = lgms_cpu_has_avx512();
    size_t plane = (size_t)h * w;
    const float *rows[DW_MAX_K * DW_MAX_K], *wr[DW_MAX_K * DW_MAX_K];
    size_t rw = (size_t)w + 2 * pad + DW_BLOCK;
    if ((size_t)kd * k * rw <= DW_RING_FLOATS) {
        /* the kd x k input rows around the output row, padded, in a ring per input slice:
         * each input row is copied once per output slice (slot row % k), not once per
         * output row that reads it. At most 80 KiB of stack; engine threads have the
         * default stacks (2-8 MiB). */
        float ring[DW_RING_FLOATS];
        memset(ring, 0, sizeof(float) * (size_t)kd * k * rw);
        for (int ch = 0; ch < channels; ch++) {
            const float *src = in + (size_t)ch * d * plane, *wk = weight + (size_t)ch * kd * k * k;
            float b = bias ? bias[ch] : 0.0f;
            for (int z = 0; z < d; z++) {
                for (int kz = 0; kz < kd; kz++) {
                    int sz = z + kz - padd;
                    if (sz < 0 || sz >= d) continue;
                    for (int r = 0; r < pad && r < h; r++)
                        memcpy(ring + ((size_t)kz * k + r % k) * rw + pad, src + (size_t)sz * plane + (size_t)r * w,
                               sizeof(float) * (size_t)w);
                }
                for (int y = 0; y < h; y++) {
                    int nt = 0;
                    for (int kz = 0; kz < kd; kz++) {
                        int sz = z + kz - padd;
                        if (sz < 0 || sz >= d) continue;
                        float *slots = ring + (size_t)kz * k * rw;
                        if (y + pad < h)
                            memcpy(slots + (size_t)((y + pad) % k) * rw + pad,
                                   src + (size_t)sz * plane + (size_t)(y + pad) * w, sizeof(float) * (size_t)w);
                        for (int ky = 0; ky < k; ky++) {
                            int sy = y + ky - pad;
                            if (sy < 0 || sy >= h) continue;
                            rows[nt] = slots + (size_t)(sy % k) * rw;
                            wr[nt++] = wk + (kz * k + ky) * k;
                        }
                    }
                    dw_row_padded(rows, wr, nt, k, w, b, out + ((size_t)ch * d + z) * plane + (size_t)y * w, wide);
                }
            }
        }
        return;
    }
    for (int ch = 0; ch < channels; ch++) {
        const float *src = in + (size_t)ch * d * plane, *wk = weight + (size_t)ch * kd * k * k;
        float b = bias ? bias[ch] : 0.0f;
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++) {
                int nt = 0;
                for (int kz = 0; kz < kd; kz++) {
                    int sz = z + kz - padd;
                    if (sz < 0 || sz >= d) continue;
                    for (int ky = 0; ky < k; ky++) {
                        int sy = y + ky - pad;
                        if (sy < 0 || sy >= h) continue;
                        rows[nt] = src + (size_t)sz * plane + (size_t)sy * w;
                        wr[nt++] = wk + (kz * k + ky) * k;
                    }
                }
                dw_row_simd(rows, wr, nt, k, w, b, out + ((size_t)ch * d + z) * plane + (size_t)y * w, wide);
            }
    }
}
#endif

void lgms_depthwise(const float *in, int channels, int d, int h, int w, int k, int kd, const float *weight,
                    const float *bias, float *out) {
#if LGMS_HAVE_DW_SIMD
    if (k <= DW_MAX_K && kd <= DW_MAX_K && lgms_cpu_has_avx2_fma()) {
        depthwise_simd(in, channels, d, h, w, k, kd, weight, bias, out);
        return;
    }
#endif
    depthwise_portable(in, channels, d, h, w, k, kd, weight, bias, out);
}
