/* ops.h - the compute kernels of the engine, on single-sample float32 tensors laid out
 * C x D x H x W (W fastest); a 2-D tensor is the case D = 1, so one set of kernels serves
 * LGMSNet and LGMSNet-3D. Kernels take every buffer they use from the caller; none allocates.
 * Convolutions (conv.h) dispatch to the im2col, direct, pointwise and Winograd kernels;
 * attention is in attention.c. */
#ifndef LGMS_OPS_H
#define LGMS_OPS_H

#include <stddef.h>

#include "conv.h"

/* Floats of scratch lgms_conv_run needs for a d x h x w input. */
size_t lgms_conv_scratch(const lgms_conv *c, int d, int h, int w);
void lgms_conv_run(const lgms_conv *c, const float *in, int d, int h, int w, float *out, float *scratch);
/* Output rows [r_begin, r_end) of the d*h rows (row r = z*h + y), all channels; threads
 * split a convolution this way, at multiples of lgms_conv_row_step rows. res: NULL, or a
 * tensor shaped as out added to it after the epilogue (a residual sum, out = conv(in) +
 * res, with the bits of the two steps apart; not with an InstanceNorm, which must come
 * first, nor in place). */
void lgms_conv_rows(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end, float *out,
                    const float *res, float *scratch);
/* The same into a buffer of its own layout: channel o, row r at out[o * out_cs + (r - r_begin) * w]
 * (lgms_conv_rows is out + r_begin * w with out_cs = d * h * w). */
void lgms_conv_rows_into(const lgms_conv *c, const float *in, int d, int h, int w, int r_begin, int r_end, float *out,
                         size_t out_cs, float *scratch);
int lgms_conv_row_step(const lgms_conv *c, int d, int h, int w);
/* Output channels [co0, co1) (multiples of 8) of a one-group Winograd layer
 * (lgms_winograd_fits) over the whole h x w plane: the other way threads split such a
 * layer (lgms_winograd_by_outputs), with the same results. */
void lgms_conv_outputs(const lgms_conv *c, const float *in, int h, int w, int co0, int co1, float *out,
                       const float *res, float *scratch);

/* Depthwise kd x k x k (one filter per channel; kd = 1 in 2-D) with bias, zero padding
 * kd/2, k/2. */
void lgms_depthwise(const float *in, int channels, int d, int h, int w, int k, int kd, const float *weight,
                    const float *bias, float *out);

/* In place: y = act(x * scale[c] + shift[c]) per channel (scale NULL = 1). */
void lgms_channel_affine(float *x, int channels, size_t plane, const float *scale, const float *shift, lgms_act act);

/* In place GroupNorm (biased variance, eps 1e-5) with affine (gamma, beta NULL: none),
 * then the activation. groups = channels is InstanceNorm. */
void lgms_group_norm(float *x, int channels, size_t plane, int groups, const float *gamma, const float *beta,
                     lgms_act act);

/* LayerNorm of n tokens of d features stored channel-major (feature i of token t at
 * x[i * stride + t]): each token's features normalised, (x - mu)/sqrt(var + 1e-5) * gamma +
 * beta, into out (same layout). */
void lgms_layer_norm(const float *x, size_t stride, int n, int d, const float *gamma, const float *beta, float *out);

void lgms_activate(float *x, size_t n, lgms_act act);
void lgms_add(float *dst, const float *src, size_t n);

/* 2x2 max-pool (2x2x2 when d > 1). */
void lgms_maxpool2x(const float *in, int channels, int d, int h, int w, float *out);
/* Bilinear x2 (trilinear when d > 1), align_corners=False (half-pixel centres, clamped borders). */
void lgms_upsample2x(const float *in, int channels, int d, int h, int w, float *out);

/* Multi-head self-attention of n tokens on a fused channel-major qkv [3*heads*dh][ld] buffer
 * (q | k | v, head-major inside each; feature f of token t at qkv[f * ld + t], ld >= n, so
 * the n tokens may be one group of several side by side); out [heads*dh][ld] likewise.
 * scratch needs lgms_attention_scratch(n) floats. The head dimension dh must be 8, as in
 * every LGMSNet. */
#define LGMS_ATTN_MAX_DH 8
size_t lgms_attention_scratch(int n);
/* Heads [head_begin, head_end); threads split attention this way. */
void lgms_attention_heads(const float *qkv, int n, size_t ld, int heads, int dh, float scale, int head_begin,
                          int head_end, float *out, float *scratch);
/* All heads with the portable kernel that CPUs without AVX2 + FMA run (tests reach it
 * through this on any machine). */
void lgms_attention_portable(const float *qkv, int n, size_t ld, int heads, int dh, float scale, float *out,
                             float *scratch);

#endif
