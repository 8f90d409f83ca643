/* ops.h - the compute kernels of the engine, on single-sample NCHW float32 planes.
 * Kernels take every buffer they use from the caller; none allocates. */
#ifndef LGMS_OPS_H
#define LGMS_OPS_H

#include <stddef.h>

typedef enum { LGMS_ACT_NONE = 0, LGMS_ACT_RELU, LGMS_ACT_SILU, LGMS_ACT_GELU } lgms_act;

/* A convolution with its epilogue: y = act(W x + bias), then y = y * post_scale + post_shift
 * when post_scale is set (a BatchNorm that follows the activation). Stride 1, zero padding k/2. */
typedef struct {
    int cin, cout, k, groups;
    const float *weight; /* [cout][cin/groups][k][k] */
    const float *bias;   /* [cout] or NULL */
    const float *post_scale, *post_shift;
    lgms_act act;
} lgms_conv2d;

/* Floats of scratch lgms_conv2d_nchw needs for an input of width w. */
size_t lgms_conv2d_scratch(const lgms_conv2d *c, int h, int w);
void lgms_conv2d_nchw(const lgms_conv2d *c, const float *in, int h, int w, float *out, float *scratch);
/* Output rows [y_begin, y_end) only (all channels); threads split a convolution this way. */
void lgms_conv2d_rows(const lgms_conv2d *c, const float *in, int h, int w, int y_begin, int y_end, float *out,
                      float *scratch);

/* Depthwise k x k (one filter per channel) with bias, zero padding k/2. */
void lgms_depthwise_nchw(const float *in, int channels, int h, int w, int k, const float *weight, const float *bias,
                         float *out);

/* In place: y = act(x * scale[c] + shift[c]) per channel (scale NULL = 1). */
void lgms_channel_affine(float *x, int channels, size_t plane, const float *scale, const float *shift, lgms_act act);

/* In place GroupNorm (biased variance, eps 1e-5) with affine, then the activation. */
void lgms_group_norm(float *x, int channels, size_t plane, int groups, const float *gamma, const float *beta,
                     lgms_act act);

/* LayerNorm of n rows of d features: out = (x - mu)/sqrt(var + 1e-5) * gamma + beta. */
void lgms_layer_norm(const float *x, int n, int d, const float *gamma, const float *beta, float *out);

void lgms_activate(float *x, size_t n, lgms_act act);
void lgms_add(float *dst, const float *src, size_t n);

void lgms_maxpool2x2(const float *in, int channels, int h, int w, float *out);
/* Bilinear x2, align_corners=False (half-pixel centres, clamped borders). */
void lgms_upsample2x_bilinear(const float *in, int channels, int h, int w, float *out);

/* Linear layer on n tokens: out[n][dout] = x[n][din] W^T + b (b may be NULL).
 * accumulate != 0 adds to out instead of overwriting it. */
void lgms_linear(const float *x, int n, int din, const float *weight, const float *bias, int dout, float *out,
                 int accumulate);

/* Multi-head self-attention of n tokens on a fused qkv [n][3*heads*dh] buffer (q | k | v,
 * head-major inside each); out [n][heads*dh]. scratch needs lgms_attention_scratch(n)
 * floats. The head dimension dh must be 8, as in every LGMSNet. */
#define LGMS_ATTN_MAX_DH 8
size_t lgms_attention_scratch(int n);
void lgms_attention(const float *qkv, int n, int heads, int dh, float scale, float *out, float *scores);
/* Heads [head_begin, head_end) only; threads split attention this way. */
void lgms_attention_heads(const float *qkv, int n, int heads, int dh, float scale, int head_begin, int head_end,
                          float *out, float *scratch);

#endif
