/* conv_direct.c - 3x3 (2-D) and 3x3x3 (3-D) convolution computed straight from padded
 * input rows with AVX2: a block of output channels x 16 columns is summed in registers over
 * every tap (x 64 or 32 columns in AVX-512 registers where the CPU has them: the same sums
 * in the same order, so the same bits). A tile holds, per input channel, the rows of one output
 * slice's neighbourhood (the slice above and below too in 3-D) with zero borders. */
#include "conv_direct.h"

#include <stdint.h>
#include <string.h>

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LGMS_HAVE_DIRECT 1
#else
#define LGMS_HAVE_DIRECT 0
#endif

#define MAX_COUT_G 32
#define TILE_FLOATS (1u << 16) /* padded input tile: ~256 KiB, stays in L2 */
#define CO_BLOCK 6             /* output channels per register block */
#define X_BLOCK 16             /* columns per register block: two 8-float vectors */
/* A tile row: LPAD floats whose last is the left zero column, the w inputs, then the right
 * zero column and padding to a whole vector, so rows (and the tap in the middle column) start
 * on 64-byte lines: with one zero column in front, nearly every vector load of the kernel
 * crossed a line. */
#define LPAD 16

/* Input slices a tile holds per channel: the kernel's depth (1 in 2-D). */
static int kdepth(const lgms_conv *c) { return c->kd > 1 ? c->kd : 1; }

static int tile_width(int w) { return LPAD + (w + 1 + 15) / 16 * 16; }

static int tile_rows(const lgms_conv *c, int w) {
    size_t per_row = (size_t)c->cin * kdepth(c) * (size_t)tile_width(w);
    size_t rows = TILE_FLOATS / per_row;
    return rows < 3 ? 1 : (int)rows - 2;
}

int lgms_conv3x3_direct_ok(const lgms_conv *c, int w) {
#if LGMS_HAVE_DIRECT
    return lgms_cpu_has_avx2_fma() && c->k == 3 && (kdepth(c) == 1 || kdepth(c) == 3) &&
           c->cout / c->groups <= MAX_COUT_G && w % X_BLOCK == 0;
#else
    (void)c, (void)w;
    return 0;
#endif
}

size_t lgms_conv3x3_direct_scratch(const lgms_conv *c, int w) {
    return (size_t)c->cin * kdepth(c) * (size_t)(tile_rows(c, w) + 2) * (size_t)tile_width(w) + 16;
}

/* Rows [y0, y1) of slice z of every input channel, with one row above and below (zero
 * past the edge) and one zero column each side, for each of the kd slices z - kd/2 ..
 * z + kd/2 (zero past the volume): pad[ci][kz][r][LPAD + x], rows tile_width(w) apart. */
static void pad_tile(const float *in, int cin, int d, int h, int w, int kd, int z, int y0, int y1, float *pad) {
    int wp = tile_width(w), rows = y1 - y0 + 2;
    size_t hw = (size_t)h * w;
    for (int ci = 0; ci < cin; ci++)
        for (int kz = 0; kz < kd; kz++) {
            int sz = z - kd / 2 + kz;
            const float *slice = in + ((size_t)ci * d + (size_t)sz) * hw;
            float *dst = pad + ((size_t)ci * kd + kz) * rows * wp;
            for (int r = 0; r < rows; r++, dst += wp) {
                int sy = y0 - 1 + r;
                dst[LPAD - 1] = dst[LPAD + w] = 0.0f;
                if (sz < 0 || sz >= d || sy < 0 || sy >= h)
                    memset(dst + LPAD, 0, sizeof(float) * (size_t)w);
                else
                    memcpy(dst + LPAD, slice + (size_t)sy * w, sizeof(float) * (size_t)w);
            }
        }
}

#if LGMS_HAVE_DIRECT
#define LGMS_SIMD_W 8
#include "simd.h"

#include "conv_direct_simd.inc"
#undef LGMS_SIMD_W
#define LGMS_SIMD_W 16
#include "simd.h"

#include "conv_direct_simd.inc"

/* Output row r of the tile for nco channels: where the CPU has AVX-512, 64-column blocks
 * while they fit (24 sums in registers, so each weight broadcast feeds 4 FMAs: 1.1x the
 * 32-column block on the 256x256 layers), then a 32-column one (the same sums in the same
 * order); 16-column AVX2 blocks otherwise and for the last 16 columns (w = 16 mod 32). */
static void row_block(const float *pad, int cin_g, int kd, int rows, int wp, const float *wt, int nco, int r, int w,
                      float *const *dst, int wide) {
    int x0 = 0;
    for (; wide && x0 + 4 * X_BLOCK <= w; x0 += 4 * X_BLOCK)
        block_n_16(pad, cin_g, kd, rows, wp, wt, nco, r, x0, dst, 4);
    for (; wide && x0 + 2 * X_BLOCK <= w; x0 += 2 * X_BLOCK)
        block_n_16(pad, cin_g, kd, rows, wp, wt, nco, r, x0, dst, 2);
    for (; x0 < w; x0 += X_BLOCK)
        block_n_8(pad, cin_g, kd, rows, wp, wt, nco, r, x0, dst, 2);
}
#endif

void lgms_conv3x3_direct_rows(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end,
                              float *out, size_t out_cs, float *scratch) {
#if LGMS_HAVE_DIRECT
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, wp = tile_width(w), kd = kdepth(c);
    int trows = tile_rows(c, w), wide = lgms_cpu_has_avx512();
    for (int r0 = r_begin; r0 < r_end;) { /* tiles never cross a slice */
        int z = r0 / h, t0 = r0 % h;
        int t1 = t0 + trows < h ? t0 + trows : h;
        if (t1 - t0 > r_end - r0) t1 = t0 + (r_end - r0);
        int rows = t1 - t0 + 2;
        float *tile = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* rows on 64-byte lines */
        pad_tile(in, c->cin, d, h, w, kd, z, t0, t1, tile);
        for (int g = 0; g < c->groups; g++) { /* the kernel reads column x - 1 + kx of pad */
            const float *pad = tile + (size_t)g * cin_g * kd * rows * wp + LPAD - 1;
            for (int co = 0; co < cout_g; co += CO_BLOCK) {
                int nco = cout_g - co < CO_BLOCK ? cout_g - co : CO_BLOCK;
                const float *wt = c->weight + (size_t)(g * cout_g + co) * cin_g * kd * 9;
                for (int y = t0; y < t1; y++) {
                    float *dst[CO_BLOCK];
                    for (int o = 0; o < nco; o++)
                        dst[o] =
                            out + (size_t)(g * cout_g + co + o) * out_cs + ((size_t)z * h + (size_t)y - r_begin) * w;
                    row_block(pad, cin_g, kd, rows, wp, wt, nco, y - t0, w, dst, wide);
                }
            }
        }
        r0 += t1 - t0;
    }
#else
    (void)c, (void)in, (void)d, (void)h, (void)w, (void)r_begin, (void)r_end, (void)out, (void)out_cs, (void)scratch;
#endif
}
