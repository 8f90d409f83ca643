/* parallel_ops.c - split each op of ops.c over a thread team: one context struct and one
 * task function per op; the task finds its share with lgms_split, or takes chunks in turn
 * (lgms_next_chunk) where the split cannot change a result. */
#include "parallel_ops.h"

#include <string.h>

#include "conv_winograd.h"

typedef struct {
    const lgms_conv *c;
    const float *in;
    int d, h, w;
    float *out, *scratch;
    size_t scratch_each;
    atomic_int next;
    const float *res;
} conv_job;

/* Output pixels a chunk of a convolution should have at least: below that, per-call costs
 * (tiles, transforms, short matrix products) outweigh balancing. */
#define LGMS_CONV_CHUNK_PIXELS 8192

/* Rows in chunks of whole row steps (Winograd: blocks of 4 rows), up to three chunks a
 * thread where the plane is large enough, taken in turn. */
static void conv_task(void *p, int i, int n) {
    conv_job *j = p;
    size_t step = (size_t)lgms_conv_row_step(j->c, j->d, j->h, j->w), units = (size_t)j->d * j->h / step;
    size_t chunks = units * step * j->w / LGMS_CONV_CHUNK_PIXELS, b, e;
    chunks = chunks > 3 * (size_t)n ? 3 * (size_t)n : chunks;
    chunks = chunks < (size_t)n || n == 1 ? (size_t)n : chunks;
    for (int c; (c = lgms_next_chunk(&j->next, (int)chunks)) >= 0;) {
        lgms_split(units, c, (int)chunks, &b, &e);
        if (b < e)
            lgms_conv_rows(j->c, j->in, j->d, j->h, j->w, (int)(b * step), (int)(e * step), j->out, j->res,
                           j->scratch + i * j->scratch_each);
    }
}

/* A Winograd layer on a small plane: output channels in slices of 8, split evenly. */
static void conv_outputs_task(void *p, int i, int n) {
    conv_job *j = p;
    size_t b, e;
    lgms_split((size_t)j->c->cout / 8, i, n, &b, &e);
    if (b < e)
        lgms_conv_outputs(j->c, j->in, j->h, j->w, (int)b * 8, (int)e * 8, j->out, j->res,
                          j->scratch + i * j->scratch_each);
}

void lgms_par_conv(lgms_threads *t, const lgms_conv *c, const float *in, int d, int h, int w, float *out,
                   float *scratch) {
    lgms_par_conv_add(t, c, in, d, h, w, out, NULL, scratch);
}

void lgms_par_conv_add(lgms_threads *t, const lgms_conv *c, const float *in, int d, int h, int w, float *out,
                       const float *res, float *scratch) {
    conv_job j = {c, in, d, h, w, out, scratch, lgms_conv_scratch(c, d, h, w), 0, res};
    int by_outputs =
        lgms_winograd_fits(c, d, h, w) && c->cout % 8 == 0 && lgms_winograd_by_outputs(c, h, w, lgms_threads_count(t));
    lgms_threads_run(t, by_outputs ? conv_outputs_task : conv_task, &j);
}

typedef struct {
    const lgms_up *u;
    const float *in;
    int h, w;
    const float *phase;
    float *corr, *out, *scratch;
    size_t scratch_each;
} up_job;

/* The four sides, one per thread in turn. */
static void up_sides_task(void *p, int i, int n) {
    up_job *j = p;
    for (int s = i; s < 4; s += n)
        lgms_upconv_side(j->u, j->in, j->h, j->w, s, j->corr + s * lgms_upconv_side_size(j->u, j->h, j->w),
                         j->scratch + i * j->scratch_each);
}

/* Output rows of all channels (channel-major), split evenly. */
static void up_finish_task(void *p, int i, int n) {
    up_job *j = p;
    size_t rows = 2 * (size_t)j->h, b, e;
    lgms_split((size_t)j->u->conv.cout * rows, i, n, &b, &e);
    for (size_t r = b; r < e;) {
        size_t o = r / rows, m0 = r % rows, m1 = o == e / rows ? e % rows : rows;
        lgms_upconv_finish(j->u, j->phase, j->corr, j->h, j->w, (int)o, (int)m0, (int)m1, j->out);
        r += m1 - m0;
    }
}

/* The phase convolution's scratch, then the sides': one slice serves both in turn. */
size_t lgms_par_upconv_scratch(const lgms_up *u, int h, int w) {
    size_t conv = lgms_conv_scratch(&u->phases, 1, h, w), side = lgms_upconv_side_scratch(u, h, w);
    return conv > side ? conv : side;
}

void lgms_par_upconv(lgms_threads *t, const lgms_up *u, const float *in, int h, int w, float *phase, float *corr,
                     float *out, float *scratch) {
    lgms_par_conv(t, &u->phases, in, 1, h, w, phase, scratch);
    up_job j = {u, in, h, w, phase, corr, out, scratch, lgms_par_upconv_scratch(u, h, w)};
    lgms_threads_run(t, up_sides_task, &j);
    lgms_threads_run(t, up_finish_task, &j);
}

typedef struct {
    const float *in;
    int channels, d, h, w, k, kd;
    const float *weight, *bias;
    float *out;
} dw_job;

static void dw_task(void *p, int i, int n) {
    dw_job *j = p;
    size_t b, e, vol = (size_t)j->d * j->h * j->w;
    lgms_split((size_t)j->channels, i, n, &b, &e);
    if (b < e)
        lgms_depthwise(j->in + b * vol, (int)(e - b), j->d, j->h, j->w, j->k, j->kd,
                       j->weight + b * j->kd * j->k * j->k, j->bias ? j->bias + b : NULL, j->out + b * vol);
}

void lgms_par_depthwise(lgms_threads *t, const float *in, int channels, int d, int h, int w, int k, int kd,
                        const float *weight, const float *bias, float *out) {
    dw_job j = {in, channels, d, h, w, k, kd, weight, bias, out};
    lgms_threads_run(t, dw_task, &j);
}

/* Element ranges are cut at multiples of 64 floats so no two threads share a cache line. */
static void split_floats(size_t n, int i, int count, size_t *b, size_t *e) {
    size_t blocks = (n + 63) / 64;
    lgms_split(blocks, i, count, b, e);
    *b *= 64, *e *= 64;
    if (*e > n) *e = n;
    if (*b > n) *b = n;
}

typedef struct {
    float *x;
    const float *src;
    size_t n;
    lgms_act act;
} vec_job;

static void add_task(void *p, int i, int n) {
    vec_job *j = p;
    size_t b, e;
    split_floats(j->n, i, n, &b, &e);
    if (b < e) lgms_add(j->x + b, j->src + b, e - b);
}

void lgms_par_add(lgms_threads *t, float *dst, const float *src, size_t n) {
    vec_job j = {dst, src, n, LGMS_ACT_NONE};
    lgms_threads_run(t, add_task, &j);
}

static void copy_task(void *p, int i, int n) {
    vec_job *j = p;
    size_t b, e;
    split_floats(j->n, i, n, &b, &e);
    if (b < e) memcpy(j->x + b, j->src + b, sizeof(float) * (e - b));
}

void lgms_par_copy(lgms_threads *t, float *dst, const float *src, size_t n) {
    vec_job j = {dst, src, n, LGMS_ACT_NONE};
    lgms_threads_run(t, copy_task, &j);
}

static void act_task(void *p, int i, int n) {
    vec_job *j = p;
    size_t b, e;
    split_floats(j->n, i, n, &b, &e);
    if (b < e) lgms_activate(j->x + b, e - b, j->act);
}

void lgms_par_activate(lgms_threads *t, float *x, size_t n, lgms_act act) {
    vec_job j = {x, NULL, n, act};
    lgms_threads_run(t, act_task, &j);
}

typedef struct {
    float *x;
    const float *add;
    int channels, groups;
    size_t plane;
    const float *scale, *shift;
    lgms_act act;
} chan_job;

static void affine_task(void *p, int i, int n) {
    chan_job *j = p;
    size_t b, e;
    lgms_split((size_t)j->channels, i, n, &b, &e);
    if (b < e)
        lgms_channel_affine(j->x + b * j->plane, (int)(e - b), j->plane, j->scale ? j->scale + b : NULL,
                            j->shift ? j->shift + b : NULL, j->act);
}

void lgms_par_channel_affine(lgms_threads *t, float *x, int channels, size_t plane, const float *scale,
                             const float *shift, lgms_act act) {
    chan_job j = {x, NULL, channels, 1, plane, scale, shift, act};
    lgms_threads_run(t, affine_task, &j);
}

static void gn_task(void *p, int i, int n) {
    chan_job *j = p;
    size_t b, e, cg = (size_t)(j->channels / j->groups);
    lgms_split((size_t)j->groups, i, n, &b, &e);
    if (b >= e) return;
    float *x = j->x + b * cg * j->plane;
    if (j->add) lgms_add(x, j->add + b * cg * j->plane, (e - b) * cg * j->plane);
    lgms_group_norm(x, (int)((e - b) * cg), j->plane, (int)(e - b), j->scale ? j->scale + b * cg : NULL,
                    j->shift ? j->shift + b * cg : NULL, j->act);
}

void lgms_par_add_group_norm(lgms_threads *t, float *x, const float *add, int channels, size_t plane, int groups,
                             const float *gamma, const float *beta, lgms_act act) {
    chan_job j = {x, add, channels, groups, plane, gamma, beta, act};
    lgms_threads_run(t, gn_task, &j);
}

typedef struct {
    const float *x;
    int n, d;
    const float *gamma, *beta;
    float *out;
} ln_job;

/* Tokens (columns) split at multiples of 16 so no two threads share a cache line. */
static void ln_task(void *p, int i, int n) {
    ln_job *j = p;
    size_t b, e;
    lgms_split(((size_t)j->n + 15) / 16, i, n, &b, &e);
    b *= 16, e = e * 16 < (size_t)j->n ? e * 16 : (size_t)j->n;
    if (b < e) lgms_layer_norm(j->x + b, (size_t)j->n, (int)(e - b), j->d, j->gamma, j->beta, j->out + b);
}

void lgms_par_layer_norm(lgms_threads *t, const float *x, int n, int d, const float *gamma, const float *beta,
                         float *out) {
    ln_job j = {x, n, d, gamma, beta, out};
    lgms_threads_run(t, ln_task, &j);
}

typedef struct {
    const float *qkv;
    int n, groups, heads, dh;
    float scale;
    float *out, *scratch;
    atomic_int next;
} attn_job;

/* One (group, head) pair at a time, taken in turn. */
static void attn_task(void *p, int i, int n) {
    attn_job *j = p;
    size_t ld = (size_t)j->groups * j->n;
    (void)n;
    for (int u; (u = lgms_next_chunk(&j->next, j->groups * j->heads)) >= 0;) {
        size_t g = (size_t)(u / j->heads) * j->n;
        int e = u % j->heads;
        lgms_attention_heads(j->qkv + g, j->n, ld, j->heads, j->dh, j->scale, e, e + 1, j->out + g,
                             j->scratch + i * lgms_attention_scratch(j->n));
    }
}

void lgms_par_attention(lgms_threads *t, const float *qkv, int n, int groups, int heads, int dh, float scale,
                        float *out, float *scratch) {
    attn_job j = {qkv, n, groups, heads, dh, scale, out, scratch, 0};
    lgms_threads_run(t, attn_task, &j);
}

typedef struct {
    const float *in;
    int channels, d, h, w;
    float *out;
} resample_job;

/* Output voxels per input voxel: 4 (or 1/4) in 2-D, 8 (or 1/8) in 3-D. */
static size_t factor(const resample_job *j) { return j->d > 1 ? 8 : 4; }

static void pool_task(void *p, int i, int n) {
    resample_job *j = p;
    size_t b, e, vol = (size_t)j->d * j->h * j->w;
    lgms_split((size_t)j->channels, i, n, &b, &e);
    if (b < e) lgms_maxpool2x(j->in + b * vol, (int)(e - b), j->d, j->h, j->w, j->out + b * (vol / factor(j)));
}

void lgms_par_maxpool2x(lgms_threads *t, const float *in, int channels, int d, int h, int w, float *out) {
    resample_job j = {in, channels, d, h, w, out};
    lgms_threads_run(t, pool_task, &j);
}

static void up_task(void *p, int i, int n) {
    resample_job *j = p;
    size_t b, e, vol = (size_t)j->d * j->h * j->w;
    lgms_split((size_t)j->channels, i, n, &b, &e);
    if (b < e) lgms_upsample2x(j->in + b * vol, (int)(e - b), j->d, j->h, j->w, j->out + b * vol * factor(j));
}

void lgms_par_upsample2x(lgms_threads *t, const float *in, int channels, int d, int h, int w, float *out) {
    resample_job j = {in, channels, d, h, w, out};
    lgms_threads_run(t, up_task, &j);
}
