/* conv_direct.h - direct 3x3 (and 3x3x3) convolution for layers with few output channels.
 *
 * im2col + sgemm is a poor fit when a group has <= 32 output channels at high resolution
 * (the stem, encoder 1, Up2, the decoder fusion blocks): the 9x copy and sgemm's packing
 * cost more than the arithmetic. This kernel reads a zero-padded tile of input rows and
 * keeps 6 output channels x 16 columns of sums in AVX2 registers over all taps. Internal
 * to ops.c, which runs the epilogue on its raw sums. */
#ifndef LGMS_CONV_DIRECT_H
#define LGMS_CONV_DIRECT_H

#include <stddef.h>

#include "conv.h"

/* Whether the direct kernel takes this layer at width w (3x3 or 3x3x3, <= 32 outputs per
 * group, w a multiple of 16, and the CPU has AVX2 + FMA). */
int lgms_conv3x3_direct_ok(const lgms_conv *c, int w);
/* Floats of scratch for one thread. */
size_t lgms_conv3x3_direct_scratch(const lgms_conv *c, int w);
/* Raw sums (no bias, no activation) of output rows [r_begin, r_end) of the d*h rows
 * (row r = z*h + y), every channel: channel o, row r at out[o * out_cs + (r - r_begin) * w]. */
void lgms_conv3x3_direct_rows(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end,
                              float *out, size_t out_cs, float *scratch);

#endif
