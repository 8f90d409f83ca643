/* conv_pointwise.h - 1x1 convolution with an AVX2 kernel of its own.
 *
 * A 1x1 convolution is a matrix product W [cout x cin] times X [cin x pixels] with a small
 * inner dimension (4-384 here). OpenBLAS's sgemm spends much of such a product packing
 * and re-reading C; this kernel copies a panel of columns of X (a few hundred pixels, kept
 * in L1) and keeps 4 output channels x 24 pixels of sums in registers over all inputs (8 x 48
 * with AVX-512, two panels at a time), with W packed at model load into 4-channel panels. The same kernel on plain
 * matrices (lgms_pointwise_gemm) multiplies Winograd's transformed blocks (conv_winograd.c) and the attention's score
 * and value products (attention.c); the transformer's linears are 1x1 convolutions. Internal to the engine. */
#ifndef LGMS_CONV_POINTWISE_H
#define LGMS_CONV_POINTWISE_H

#include <stddef.h>

#include "conv.h"

/* Whether a layer takes this kernel (1x1, one group, >= 4 outputs, an AVX2 + FMA CPU). */
int lgms_pointwise_layer(const lgms_conv *c);
/* Floats of packed filters: cout rounded up to 4, times cin. */
size_t lgms_pointwise_weights_size(const lgms_conv *c);
void lgms_pointwise_pack_weights(const lgms_conv *c, float *dst);
/* Floats of scratch for one thread. */
size_t lgms_pointwise_scratch(const lgms_conv *c);
/* The kernel on plain matrices: out[rows][ncols] (ldo) = W[rows][cin] x[cin][ncols] (ldx),
 * W packed by lgms_pointwise_pack (conv_winograd.c multiplies its transformed blocks so). */
size_t lgms_pointwise_packed_size(int rows, int cols);
/* Rows per packed panel: a panel of rows [r0, r0 + LGMS_POINTWISE_MR) starts r0 * cols floats in. */
#define LGMS_POINTWISE_MR 4
void lgms_pointwise_pack(const float *w, int rows, int cols, size_t ldw, float *dst);
size_t lgms_pointwise_gemm_scratch(int cin);
void lgms_pointwise_gemm(const float *wp, int rows, int cin, const float *x, size_t ldx, size_t ncols, float *out,
                         size_t ldo, float *scratch);
/* Raw sums (no bias, no activation) of columns [col0, col0 + ncols) of the in_cs-float
 * input planes: channel o, column col at out[o * out_cs + (col - col0)]. */
void lgms_pointwise_cols(const lgms_conv *c, const float *in, size_t in_cs, size_t col0, size_t ncols, float *out,
                         size_t out_cs, float *scratch);

#endif
