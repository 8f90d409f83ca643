/* conv_winograd.h - 3x3 convolution by Winograd's minimal filtering F(4x4, 3x3).
 *
 * Each 4x4 block of outputs comes from a 6x6 block of input through 36 products per
 * input/output channel pair instead of 144: the filters are transformed once at model load
 * (U = G g G^T), the input blocks per call (V = B^T d B), the 36 products of a pair become
 * 36 matrix products over all blocks (U[xi] x V[xi], on conv_pointwise.c's kernel or
 * sgemm), and each 6x6 result folds back to 4x4 outputs (A^T m A). 4x fewer
 * multiplications than direct convolution (F(2x2, 3x3), used before, saved 2.25x); float32
 * rounding stays ~1e-5 relative. Internal to ops.c and model.c. */
#ifndef LGMS_CONV_WINOGRAD_H
#define LGMS_CONV_WINOGRAD_H

#include <stddef.h>

#include "conv.h"

/* Output rows (and columns) per block: threads split a layer at multiples of it. */
#define LGMS_WINOGRAD_TILE 4

/* Whether a 2-D layer takes this path: 3x3 with at least 32 inputs and 32 outputs per
 * group (below that the transforms cost more than they save: the direct kernel or im2col
 * take those). The plane's sides must also be multiples of 4 (lgms_winograd_fits). */
int lgms_winograd_layer(const lgms_conv *c);
int lgms_winograd_fits(const lgms_conv *c, int d, int h, int w);
/* Floats of the transformed filters: 36 x groups x (cout/groups rounded up to 4) x cin/groups. */
size_t lgms_winograd_weights_size(const lgms_conv *c);
/* 0, or -1 out of memory. */
int lgms_winograd_transform_weights(const lgms_conv *c, float *dst);
/* Floats of scratch for one thread at width w. */
size_t lgms_winograd_scratch(const lgms_conv *c, int h, int w);
/* Raw sums (no bias, no activation) of output rows [y0, y1), multiples of 4, output channels
 * [co0, co1) (multiples of 8; a layer of several groups takes all of them): channel o, row
 * y at out[o * out_cs + (y - y0) * w]. Each sum is the same, bit for bit, whatever the
 * ranges: a product row is computed in the same 8-row block either way. */
void lgms_winograd_rows(const lgms_conv *c, const float *in, int h, int w, int y0, int y1, int co0, int co1, float *out,
                        size_t out_cs, float *scratch);
/* Whether `threads` threads should split this layer at h x w by output channels (each
 * reading only its share of the filters) rather than by block rows: one group, and few
 * blocks per thread (the small planes deep in the network). */
int lgms_winograd_by_outputs(const lgms_conv *c, int h, int w, int threads);

#endif
