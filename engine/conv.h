/* conv.h - a convolution layer as the kernels see it: its weights, the forms they were
 * packed into at load, and its epilogue. Shared by ops.c, which dispatches each convolution,
 * and the kernels it dispatches to (conv_direct.c, conv_pointwise.c, conv_winograd.c). */
#ifndef LGMS_CONV_H
#define LGMS_CONV_H

typedef enum { LGMS_ACT_NONE = 0, LGMS_ACT_RELU, LGMS_ACT_SILU, LGMS_ACT_GELU } lgms_act;

/* Where an InstanceNorm (no affine; LGMSNet-3D's stand-in for BatchNorm) sits: the op
 * leaves it to the caller, so with BEFORE_ACT the op returns the raw sums (the norm cancels
 * any bias). */
typedef enum { LGMS_INORM_NONE = 0, LGMS_INORM_BEFORE_ACT, LGMS_INORM_AFTER_ACT } lgms_inorm;

/* A convolution with its epilogue: y = act(W x + bias), then y = y * post_scale + post_shift
 * when post_scale is set (a BatchNorm that follows the activation). Stride 1, zero padding k/2. */
typedef struct {
    int cin, cout, k, groups;
    int kd; /* kernel depth: k for a 3-D convolution, 0 or 1 for 2-D */
    lgms_inorm inorm;
    const float *weight; /* [cout][cin/groups][kd][k][k] */
    const float *bias;   /* [cout] or NULL */
    const float *post_scale, *post_shift;
    lgms_act act;
    const float *wino;   /* 3x3 filters in Winograd F(4x4, 3x3) form (conv_winograd.c), or NULL */
    const float *packed; /* 1x1 filters in 4-channel panels (conv_pointwise.c), or NULL */
} lgms_conv;

#endif
