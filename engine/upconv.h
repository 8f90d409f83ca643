/* upconv.h - a 2-D decoder Up (bilinear x2 with align_corners False, then a 3x3 convolution
 * with zero padding) computed on the input grid, without the upsampled tensor.
 *
 * Bilinear x2 gives output row 2i + p (p = 0, 1) from input rows i - 1, i, i + 1 with fixed
 * weights, and so does a 3x3 convolution over it: each of the four output phases
 * (row parity, column parity) is a 3x3 convolution of the input with filters that fold the
 * blend into the 3x3 (K_p = P_py^T W P_px per channel pair, made at model load). The Up thus
 * becomes one cin -> 4 cout 3x3 convolution on the input grid: the same multiply-adds as
 * before, but on a plane 4x smaller with 4x the outputs, so Winograd takes it where the
 * direct kernel took the 16-output layer at full size, and the upsampled tensor (8 MiB at
 * 256x256) is never written. That holds inside the plane; at its borders bilinear clamps
 * where the phase filters see zero padding, so the two outer output rows and columns on each
 * side are off by terms of the first or last input row or column. Those are computed apart
 * (per side a small product: [2 cout] x [3 cin] filters over the side's blended line) and
 * subtracted when the phases are interleaved into the output, before bias and activation,
 * so the result is the upsample-then-convolve one up to float rounding (~1e-6 relative).
 *
 * Taken for the Ups with at most 32 outputs (LGMSNet's two outer levels): there the phase
 * filters are small (at most 4 x 32 x 64 x 36 transformed floats); at the inner levels the
 * plane is small and 4x the filters would be read for few blocks. Internal to the engine. */
#ifndef LGMS_UPCONV_H
#define LGMS_UPCONV_H

#include <stddef.h>

#include "conv.h"

typedef struct {
    lgms_conv conv;     /* cin -> cout on the upsampled grid, BatchNorm folded (3-D: trilinear, run as is) */
    lgms_conv phases;   /* cin -> 4 cout on the input grid, raw sums: channel p * cout + o is output o
                         * at phase p = 2 * (row parity) + column parity. weight NULL: not taken */
    const float *edges; /* [4 sides: top, bottom, left, right][2 lines x cout][cin x 3] */
} lgms_up;

/* Whether an Up conv runs on the input grid: 2-D 3x3, one group, at most 32 outputs. */
int lgms_upconv_layer(const lgms_conv *c);
/* Floats lgms_upconv_build writes: the phase filters and the side corrections. */
size_t lgms_upconv_weights_size(const lgms_conv *c);
/* Phase filters and side corrections of u->conv into dst; sets u->phases and u->edges. */
void lgms_upconv_build(lgms_up *u, float *dst);

/* Floats of one side's corrections for an h x w input: [2 cout][2 max(h, w)]. */
size_t lgms_upconv_side_size(const lgms_up *u, int h, int w);
/* Scratch one thread needs for lgms_upconv_side. */
size_t lgms_upconv_side_scratch(const lgms_up *u, int h, int w);
/* The corrections of side s (0 top, 1 bottom, 2 left, 3 right) of the h x w input into corr:
 * line l of output o at corr[(l * cout + o) * 2 max(h, w)], where line l is output row l (top),
 * row 2h - 2 + l (bottom), column l (left) or column 2w - 2 + l (right). */
void lgms_upconv_side(const lgms_up *u, const float *in, int h, int w, int side, float *corr, float *scratch);
/* Output rows [m0, m1) of output channel o (2h x 2w plane): the phases interleaved, the four
 * sides' corrections (corr: 4 consecutive lgms_upconv_side_size blocks) subtracted, then
 * bias, activation and post-affine. */
void lgms_upconv_finish(const lgms_up *u, const float *phase, const float *corr, int h, int w, int o, int m0, int m1,
                        float *out);

#endif
