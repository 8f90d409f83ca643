/* model_internal.h - the in-memory LGMSNet (2-D or 3-D), shared by model.c (building it from a
 * file, folding BatchNorm) and graph.c (running it). Not part of the public API. */
#ifndef LGMS_MODEL_INTERNAL_H
#define LGMS_MODEL_INTERNAL_H

#include "lgms.h"
#include "ops.h"
#include "upconv.h"

#define LGMS_MAX_DEPTH 16

/* Local multiscale block: depthwise 3/5/7/9 on channel quarters, GN+GELU, PBS, CBS, residual. */
typedef struct {
    int c;
    const float *dw_weight[4], *dw_bias[4];
    const float *gn_gamma, *gn_beta;
    lgms_conv pbs, cbs;
} lgms_lms_block;

/* Global multiscale block (transformer depth 1, 4 heads of 8). */
typedef struct {
    int cin, c, a, b, mlp;
    lgms_conv conv1, conv2, conv3, conv4;
    const float *dw_weight, *dw_bias;         /* dw3x3 with bn1 folded, then ReLU */
    const float *branch_scale, *branch_shift; /* dwconv1x1 scale with bn2 folded */
    /* the transformer's linears, as 1x1 convolutions over its channel-major tokens [a][n]:
     * to_qkv (a -> 96, no bias), to_out (32 -> a), MLP a -> mlp (SiLU) -> a */
    const float *ln1_gamma, *ln1_beta, *ln2_gamma, *ln2_beta;
    lgms_conv qkv, proj, fc1, fc2;
} lgms_gms_block;

/* Decoder fusion: grouped 3x3 -> GELU -> BN, 1x1 -> GELU -> BN, 1x1 -> GELU -> BN
 * (each BN applied as the conv's post-activation affine). */
typedef struct {
    lgms_conv c0, c1, c2;
} lgms_fuse_block;

struct lgms_model {
    lgms_meta meta;
    float *weights; /* every folded tensor lives here */
    float *wino;    /* the 3x3 filters of the layers conv_winograd.c takes, transformed */
    float *upconv;  /* the phase filters and side corrections of the Ups upconv.c takes */
    lgms_conv stem;
    lgms_lms_block enc_lms[3][LGMS_MAX_DEPTH];
    lgms_conv enc_pbs[3];
    lgms_gms_block enc4, enc5, dec5, dec4;
    lgms_up up5, up4, up3, up2;
    lgms_fuse_block fuse4, fuse3, fuse2;
    lgms_conv head;
    double read_seconds, pack_seconds; /* how long lgms_model_load_mem took, by stage */
};

#endif
