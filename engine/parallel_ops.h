/* parallel_ops.h - the ops of ops.h run across a thread team (threads.h).
 *
 * Each splits its work statically: convolutions by output rows (a Winograd layer on a
 * small plane by output channels, lgms_winograd_by_outputs), depthwise/pooling/
 * upsampling/affine by channels, GroupNorm by groups, attention by heads, LayerNorm by
 * tokens. A NULL team runs the plain op on the caller. Ops that need
 * scratch take lgms_threads_count(t) slices of the single-thread size, one per thread. */
#ifndef LGMS_PARALLEL_OPS_H
#define LGMS_PARALLEL_OPS_H

#include "ops.h"
#include "threads.h"
#include "upconv.h"

void lgms_par_conv(lgms_threads *t, const lgms_conv *c, const float *in, int d, int h, int w, float *out,
                   float *scratch);
/* out = conv(in) + res (res shaped as out, not out itself; the conv without an
 * InstanceNorm): the residual sum added while each piece of out is still in cache. */
void lgms_par_conv_add(lgms_threads *t, const lgms_conv *c, const float *in, int d, int h, int w, float *out,
                       const float *res, float *scratch);
void lgms_par_depthwise(lgms_threads *t, const float *in, int channels, int d, int h, int w, int k, int kd,
                        const float *weight, const float *bias, float *out);
/* dst += src over n floats. */
void lgms_par_add(lgms_threads *t, float *dst, const float *src, size_t n);
/* dst = src, n floats (not overlapping). */
void lgms_par_copy(lgms_threads *t, float *dst, const float *src, size_t n);
void lgms_par_activate(lgms_threads *t, float *x, size_t n, lgms_act act);
void lgms_par_channel_affine(lgms_threads *t, float *x, int channels, size_t plane, const float *scale,
                             const float *shift, lgms_act act);
/* x += add (when add is not NULL), then GroupNorm + activation, group by group. */
void lgms_par_add_group_norm(lgms_threads *t, float *x, const float *add, int channels, size_t plane, int groups,
                             const float *gamma, const float *beta, lgms_act act);
/* Channel-major tokens: x, out [d][n]. */
void lgms_par_layer_norm(lgms_threads *t, const float *x, int n, int d, const float *gamma, const float *beta,
                         float *out);
/* groups groups of n tokens side by side (qkv [3*heads*dh][groups*n], out [heads*dh][groups*n]),
 * each attending within itself; threads take (group, head) pairs in turn. */
void lgms_par_attention(lgms_threads *t, const float *qkv, int n, int groups, int heads, int dh, float scale,
                        float *out, float *scratch);
void lgms_par_maxpool2x(lgms_threads *t, const float *in, int channels, int d, int h, int w, float *out);
/* A 2-D Up on the input grid (upconv.h): its phases into phase [4 cout][h][w], the sides'
 * corrections into corr (4 x lgms_upconv_side_size), then out [cout][2h][2w]. scratch:
 * lgms_par_upconv_scratch floats per thread. */
size_t lgms_par_upconv_scratch(const lgms_up *u, int h, int w);
void lgms_par_upconv(lgms_threads *t, const lgms_up *u, const float *in, int h, int w, float *phase, float *corr,
                     float *out, float *scratch);
void lgms_par_upsample2x(lgms_threads *t, const float *in, int channels, int d, int h, int w, float *out);

#endif
