/* graph.c - the LGMSNet forward pass (2-D, and 3-D with the same graph at depth > 1) over an
 * lgms_model, one lgms_state per thread.
 *
 * Activations live in the state's arena. The four skip tensors are written straight
 * into the first half of the decoder's concatenation buffers and each up-sampled
 * tensor into the second half, so the concatenations copy nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "fpmode.h"
#include "model_internal.h"
#include "parallel_ops.h"

#define LGMS_HEADS 4
#define LGMS_HEAD_DIM 8
#define LGMS_MAX_SIDE 8192
/* Bytes of FUSE intermediates per row tile (run_fuse): 8 rows of LGMSNet's 96 KiB per row
 * at every level. Measured against 2 to 32 rows (interleaved A/B, 256x256): 2 and 4 rows
 * lose to the calls' fixed costs, 16 and 32 to cache misses; all gain on the untiled block. */
#define LGMS_FUSE_TILE_BYTES (768u << 10)

struct lgms_state {
    const lgms_model *m;
    lgms_arena arena;
    lgms_threads *team; /* NULL: run on the caller's thread only */
    int nthreads;
    jmp_buf oom;
    int profiling;
    lgms_profile prof;
};

/* Time and FLOP accounting around one op, when profiling is on. */
#define PROF(st, cls_, fl_, call)                                                                                      \
    do {                                                                                                               \
        double t0_ = (st)->profiling ? lgms_now() : 0.0;                                                               \
        call;                                                                                                          \
        if ((st)->profiling) {                                                                                         \
            (st)->prof.seconds[cls_] += lgms_now() - t0_;                                                              \
            (st)->prof.flops[cls_] += (fl_);                                                                           \
        }                                                                                                              \
    } while (0)

static float *alloc(lgms_state *st, size_t n) { return lgms_arena_alloc(&st->arena, n); }

static double conv_flops(const lgms_conv *c, size_t plane) {
    return 2.0 * c->cout * (c->cin / c->groups) * (c->kd > 1 ? c->kd : 1) * c->k * c->k * (double)plane;
}

static lgms_prof_class conv_class(const lgms_conv *c) {
    if (c->groups > 1) return LGMS_PROF_CONV_GROUPED;
    return c->k == 1 ? LGMS_PROF_CONV1 : LGMS_PROF_CONV3;
}

/* Tensors are C x D x H x W; a 2-D network runs with D = 1 throughout. */
static int is3d(const lgms_state *st) { return st->m->meta.spatial_dims == 3; }

/* Depth of a kernel of side k in this network. */
static int kdepth(const lgms_state *st, int k) { return is3d(st) ? k : 1; }

/* out = conv(in), plus res when res is not NULL (a residual sum: added inside the conv's
 * epilogue, or after its InstanceNorm when it has one). */
static void run_conv_add(lgms_state *st, const lgms_conv *c, const float *in, int d, int h, int w, float *out,
                         const float *res) {
    size_t mark = lgms_arena_mark(&st->arena), plane = (size_t)d * h * w;
    float *scratch = alloc(st, lgms_conv_scratch(c, d, h, w) * st->nthreads);
    PROF(st, conv_class(c), conv_flops(c, plane),
         lgms_par_conv_add(st->team, c, in, d, h, w, out, c->inorm ? NULL : res, scratch));
    if (c->inorm) /* 3-D: InstanceNorm with this patch's statistics, before or after the activation */
        PROF(st, LGMS_PROF_ELEMENTWISE, 0,
             lgms_par_add_group_norm(st->team, out, NULL, c->cout, plane, c->cout, NULL, NULL,
                                     c->inorm == LGMS_INORM_BEFORE_ACT ? c->act : LGMS_ACT_NONE));
    if (c->inorm && res) PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_add(st->team, out, res, (size_t)c->cout * plane));
    lgms_arena_reset(&st->arena, mark);
}

static void run_conv(lgms_state *st, const lgms_conv *c, const float *in, int d, int h, int w, float *out) {
    run_conv_add(st, c, in, d, h, w, out, NULL);
}

static void run_lms(lgms_state *st, const lgms_lms_block *L, const float *x, int d, int h, int w, float *out) {
    size_t mark = lgms_arena_mark(&st->arena), plane = (size_t)d * h * w;
    int c = L->c, g = c / 4;
    float *m = alloc(st, (size_t)c * plane);
    for (int q = 0; q < 4; q++) {
        int k = 3 + 2 * q, kd = kdepth(st, k);
        PROF(st, LGMS_PROF_DEPTHWISE, 2.0 * g * kd * k * k * (double)plane,
             lgms_par_depthwise(st->team, x + (size_t)q * g * plane, g, d, h, w, k, kd, L->dw_weight[q], L->dw_bias[q],
                                m + (size_t)q * g * plane));
    }
    PROF(st, LGMS_PROF_ELEMENTWISE, 0,
         lgms_par_add_group_norm(st->team, m, x, c, plane, 4, L->gn_gamma, L->gn_beta, LGMS_ACT_GELU));
    float *b = alloc(st, (size_t)g * plane);
    run_conv(st, &L->pbs, m, d, h, w, b);
    run_conv_add(st, &L->cbs, b, d, h, w, out, x); /* out = cbs(b) + x */
    lgms_arena_reset(&st->arena, mark);
}

/* Token group p of t1 [a][d][h][w]: the elements whose coordinate parities are the bits of p
 * (d: 4, h: 2, w: 1; 2-D uses h and w only), as a (d/2 or 1) x h/2 x w/2 grid of n tokens.
 * Gather them channel-major into x [a][ld] (columns 0 .. n-1 from x on), or scatter them
 * back; token rows [r0, r1) of the grid (a row = one (z, i) pair): every channel's row is a
 * stride-2 read and a contiguous write (or the reverse). */
static void tokens_move_rows(float *t1, float *x, size_t ld, int a, int d, int h, int w, int p, int r0, int r1,
                             int scatter) {
    int pz = d > 1 ? p >> 2 : 0, py = (p >> 1) & 1, px = p & 1, hh = h / 2, hw = w / 2;
    size_t vol = (size_t)d * h * w;
    for (int f = 0; f < a; f++)
        for (int r = r0; r < r1; r++) {
            int z = r / hh, i = r % hh;
            float *e = t1 + f * vol + ((size_t)(d > 1 ? 2 * z + pz : 0) * h + 2 * i + py) * w + px;
            float *t = x + f * ld + (size_t)r * hw;
            if (scatter)
                for (int j = 0; j < hw; j++)
                    e[2 * j] = t[j];
            else
                for (int j = 0; j < hw; j++)
                    t[j] = e[2 * j];
        }
}

typedef struct {
    float *t1, *x;
    size_t ld;
    int a, d, h, w, groups, scatter;
} tokens_job;

/* Every group's token rows, split over the threads. */
static void tokens_task(void *arg, int i, int n) {
    tokens_job *j = arg;
    size_t b, e, rows = (size_t)(j->d > 1 ? j->d / 2 : 1) * (j->h / 2), tokens = rows * (j->w / 2);
    lgms_split(rows * j->groups, i, n, &b, &e);
    for (size_t u = b; u < e;) {
        int p = (int)(u / rows);
        size_t r0 = u % rows, r1 = e - (size_t)p * rows < rows ? e - (size_t)p * rows : rows;
        tokens_move_rows(j->t1, j->x + p * tokens, j->ld, j->a, j->d, j->h, j->w, p, (int)r0, (int)r1, j->scatter);
        u += r1 - r0;
    }
}

/* All token groups of t1 side by side in x [a][groups * n] (group p from column p * n), or
 * back. */
static void tokens_move(lgms_state *st, float *t1, int a, int d, int h, int w, int groups, float *x, size_t ld,
                        int scatter) {
    tokens_job j = {t1, x, ld, a, d, h, w, groups, scatter};
    lgms_threads_run(st->team, tokens_task, &j);
}

/* A transformer linear: a 1x1 convolution over channel-major tokens, seen as a rows x
 * cols plane so threads can split it; res (NULL: none) added to its output. */
static void run_linear_add(lgms_state *st, const lgms_conv *c, const float *in, int rows, int cols, float *out,
                           const float *res, float *scratch) {
    PROF(st, LGMS_PROF_LINEAR, 2.0 * c->cin * c->cout * (double)rows * cols,
         lgms_par_conv_add(st->team, c, in, 1, rows, cols, out, res, scratch));
}

static void run_linear(lgms_state *st, const lgms_conv *c, const float *in, int rows, int cols, float *out,
                       float *scratch) {
    run_linear_add(st, c, in, rows, cols, out, NULL, scratch);
}

/* The transformer (depth 1) on the first a channels of t, in place, every token group
 * attending within itself, every tensor channel-major [features][groups * n] with the
 * groups side by side: x += proj(attention(LN1(x))), then x += fc2(SiLU(fc1(LN2(x)))).
 * The linears, norms and sums act token by token, so they run once over all the groups
 * (4x fewer and 4x larger ops than group by group: the same results, bit for bit). */
static void run_transformer(lgms_state *st, const lgms_gms_block *G, float *t1, int d, int h, int w) {
    size_t mark = lgms_arena_mark(&st->arena);
    int groups = d > 1 ? 8 : 4, a = G->a, rows = (d > 1 ? d / 2 : 1) * (h / 2) * groups, cols = w / 2;
    int n = rows / groups * cols, nall = rows * cols;
    int inner = LGMS_HEADS * LGMS_HEAD_DIM;
    float *x = alloc(st, (size_t)nall * a), *z = alloc(st, (size_t)nall * a), *y = alloc(st, (size_t)nall * a);
    float *qkv = alloc(st, (size_t)nall * 3 * inner), *o = alloc(st, (size_t)nall * inner);
    float *hid = alloc(st, (size_t)nall * G->mlp), *scores = alloc(st, lgms_attention_scratch(n) * st->nthreads);
    size_t cs = 0;
    const lgms_conv *lin[4] = {&G->qkv, &G->proj, &G->fc1, &G->fc2};
    for (int k = 0; k < 4; k++) {
        size_t s = lgms_conv_scratch(lin[k], 1, rows, cols);
        cs = s > cs ? s : cs;
    }
    float *scratch = alloc(st, cs * st->nthreads + 1);
    const float scale = 1.0f / sqrtf((float)LGMS_HEAD_DIM);
    double attn_flops = 2.0 * 2.0 * n * (double)n * inner * groups; /* QK^T and AV, all heads and groups */
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, tokens_move(st, t1, a, d, h, w, groups, x, (size_t)nall, 0);
         lgms_par_layer_norm(st->team, x, nall, a, G->ln1_gamma, G->ln1_beta, z));
    run_linear(st, &G->qkv, z, rows, cols, qkv, scratch);
    PROF(st, LGMS_PROF_ATTENTION, attn_flops,
         lgms_par_attention(st->team, qkv, n, groups, LGMS_HEADS, LGMS_HEAD_DIM, scale, o, scores));
    /* the residual sums inside the linears' epilogues: y = proj(o) + x, then x and y trade
     * places (the same bits as x += proj(o)) */
    run_linear_add(st, &G->proj, o, rows, cols, y, x, scratch);
    float *swap = x;
    x = y, y = swap;
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_layer_norm(st->team, x, nall, a, G->ln2_gamma, G->ln2_beta, z));
    run_linear(st, &G->fc1, z, rows, cols, hid, scratch);
    run_linear_add(st, &G->fc2, hid, rows, cols, y, x, scratch);
    swap = x, x = y, y = swap;
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, tokens_move(st, t1, a, d, h, w, groups, x, (size_t)nall, 1));
    lgms_arena_reset(&st->arena, mark);
}

static void run_gms(lgms_state *st, const lgms_gms_block *G, const float *x, int d, int h, int w, float *out) {
    size_t mark = lgms_arena_mark(&st->arena), plane = (size_t)d * h * w;
    float *t0 = alloc(st, (size_t)G->c * plane), *t = alloc(st, (size_t)G->c * plane);
    run_conv(st, &G->conv1, x, d, h, w, t0);
    run_conv(st, &G->conv2, t0, d, h, w, t);
    /* conv branch on channels a..c-1: t2 += bn2(s * ReLU(bn1(dw3x3(t2)))) */
    float *t2 = t + (size_t)G->a * plane, *r = t0;
    int kd = kdepth(st, 3);
    PROF(st, LGMS_PROF_DEPTHWISE, 2.0 * G->b * 9 * kd * (double)plane,
         lgms_par_depthwise(st->team, t2, G->b, d, h, w, 3, kd, G->dw_weight, G->dw_bias, r));
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_activate(st->team, r, (size_t)G->b * plane, LGMS_ACT_RELU);
         lgms_par_channel_affine(st->team, r, G->b, plane, G->branch_scale, G->branch_shift, LGMS_ACT_NONE);
         lgms_par_add(st->team, t2, r, (size_t)G->b * plane));
    run_transformer(st, G, t, d, h, w);
    /* u = conv3(t1 | t2); out = conv4(u | x) */
    float *cat = alloc(st, (size_t)(G->c + G->cin) * plane);
    run_conv(st, &G->conv3, t, d, h, w, cat);
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_copy(st->team, cat + (size_t)G->c * plane, x, (size_t)G->cin * plane));
    run_conv(st, &G->conv4, cat, d, h, w, out);
    lgms_arena_reset(&st->arena, mark);
}

static void run_up(lgms_state *st, const lgms_up *u, const float *x, int d, int h, int w, float *out) {
    size_t mark = lgms_arena_mark(&st->arena);
    const lgms_conv *c = &u->conv;
    if (u->phases.weight && d == 1) { /* on the input grid (upconv.h) */
        float *phase = alloc(st, (size_t)4 * c->cout * h * w), *corr = alloc(st, 4 * lgms_upconv_side_size(u, h, w));
        float *scratch = alloc(st, lgms_par_upconv_scratch(u, h, w) * st->nthreads);
        PROF(st, LGMS_PROF_CONV3, conv_flops(c, (size_t)4 * h * w),
             lgms_par_upconv(st->team, u, x, h, w, phase, corr, out, scratch));
        lgms_arena_reset(&st->arena, mark);
        return;
    }
    int od = d > 1 ? 2 * d : 1;
    float *up = alloc(st, (size_t)c->cin * od * 4 * h * w);
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_upsample2x(st->team, x, c->cin, d, h, w, up));
    run_conv(st, c, up, od, 2 * h, 2 * w, out);
    lgms_arena_reset(&st->arena, mark);
}

/* A FUSE block row tile by row tile: c0 (3x3) writes a few rows into a buffer of the
 * thread's own, the two 1x1 convolutions follow on them while they are in cache, and c2
 * writes the block's output rows, so neither intermediate tensor (up to 64 channels at full
 * resolution) goes out to memory and back. */
typedef struct {
    const lgms_fuse_block *F;
    const float *x;
    int d, h, w, tile;
    float *out, *scratch;
    size_t scratch_each;
    double *part_s; /* [thread][3] seconds in c0, c1, c2 when profiling, else NULL */
    atomic_int next;
} fuse_job;

static void fuse_task(void *p, int i, int n) {
    fuse_job *j = p;
    const lgms_fuse_block *F = j->F;
    int rows = j->d * j->h;
    size_t tiles = (size_t)(rows + j->tile - 1) / j->tile, plane = (size_t)rows * j->w;
    (void)n;
    float *a = j->scratch + i * j->scratch_each, *bb = a + (size_t)F->c0.cout * j->tile * j->w;
    float *conv_scratch = bb + (size_t)F->c1.cout * j->tile * j->w;
    double *secs = j->part_s ? j->part_s + 3 * i : NULL;
    for (int t; (t = lgms_next_chunk(&j->next, (int)tiles)) >= 0;) { /* tiles taken in turn */
        int r0 = t * j->tile, r1 = r0 + j->tile < rows ? r0 + j->tile : rows, nr = r1 - r0;
        size_t tp = (size_t)nr * j->w;
        double t0 = secs ? lgms_now() : 0.0;
        lgms_conv_rows_into(&F->c0, j->x, j->d, j->h, j->w, r0, r1, a, tp, conv_scratch);
        double t1 = secs ? lgms_now() : 0.0;
        lgms_conv_rows_into(&F->c1, a, 1, nr, j->w, 0, nr, bb, tp, conv_scratch);
        double t2 = secs ? lgms_now() : 0.0;
        lgms_conv_rows_into(&F->c2, bb, 1, nr, j->w, 0, nr, j->out + (size_t)r0 * j->w, plane, conv_scratch);
        if (secs) secs[0] += t1 - t0, secs[1] += t2 - t1, secs[2] += lgms_now() - t2;
    }
}

/* Rows per tile, a multiple of c0's row step (Winograd takes blocks of 4 rows). */
static int fuse_tile_rows(const lgms_fuse_block *F, int w, int step) {
    size_t per_row = (size_t)(F->c0.cout + F->c1.cout) * w * sizeof(float);
    size_t rows = LGMS_FUSE_TILE_BYTES / per_row;
    rows = rows / step * step;
    return rows < (size_t)step ? step : (int)rows;
}

static void run_fuse(lgms_state *st, const lgms_fuse_block *F, const float *x, int d, int h, int w, float *out) {
    size_t mark = lgms_arena_mark(&st->arena), plane = (size_t)d * h * w;
    /* InstanceNorm (3-D) needs a whole plane's statistics: tiles only without it. */
    if (F->c0.inorm || F->c1.inorm || F->c2.inorm || F->c1.k != 1 || F->c2.k != 1) {
        float *a = alloc(st, (size_t)F->c0.cout * plane);
        run_conv(st, &F->c0, x, d, h, w, a);
        float *b = alloc(st, (size_t)F->c1.cout * plane);
        run_conv(st, &F->c1, a, d, h, w, b);
        run_conv(st, &F->c2, b, d, h, w, out);
        lgms_arena_reset(&st->arena, mark);
        return;
    }
    int tile = fuse_tile_rows(F, w, lgms_conv_row_step(&F->c0, d, h, w));
    if (tile > d * h) tile = d * h;
    size_t tp = (size_t)tile * w, cs = lgms_conv_scratch(&F->c0, d, h, w);
    size_t cs1 = lgms_conv_scratch(&F->c1, 1, tile, w), cs2 = lgms_conv_scratch(&F->c2, 1, tile, w);
    cs = cs > cs1 ? cs : cs1;
    cs = cs > cs2 ? cs : cs2;
    size_t each = ((size_t)(F->c0.cout + F->c1.cout) * tp + cs + 15) / 16 * 16;
    fuse_job j = {F, x, d, h, w, tile, out, alloc(st, each * st->nthreads), each, NULL, 0};
    if (st->profiling) {
        j.part_s = (double *)alloc(st, 2 * 3 * (size_t)st->nthreads);
        memset(j.part_s, 0, sizeof(double) * 3 * st->nthreads);
    }
    double t0 = st->profiling ? lgms_now() : 0.0;
    lgms_threads_run(st->team, fuse_task, &j);
    if (st->profiling) { /* the wall time, shared out by the threads' time in each conv */
        double wall = lgms_now() - t0, part[3] = {0, 0, 0};
        for (int i = 0; i < st->nthreads; i++)
            for (int k = 0; k < 3; k++)
                part[k] += j.part_s[3 * i + k];
        double total = part[0] + part[1] + part[2];
        const lgms_conv *cv[3] = {&F->c0, &F->c1, &F->c2};
        for (int k = 0; k < 3; k++) {
            st->prof.seconds[conv_class(cv[k])] += total > 0 ? wall * part[k] / total : 0.0;
            st->prof.flops[conv_class(cv[k])] += conv_flops(cv[k], plane);
        }
    }
    lgms_arena_reset(&st->arena, mark);
}

/* Encoder stage: LMS blocks (ping-pong) then the trailing PBS into dst. */
static void run_encoder(lgms_state *st, int e, const float *x, int d, int h, int w, float *dst) {
    const lgms_model *m = st->m;
    size_t mark = lgms_arena_mark(&st->arena);
    const float *cur = x;
    for (int i = 0; i < m->meta.depths[e]; i++) {
        float *next = alloc(st, (size_t)m->enc_lms[e][i].c * d * h * w);
        run_lms(st, &m->enc_lms[e][i], cur, d, h, w, next);
        cur = next;
    }
    run_conv(st, &m->enc_pbs[e], cur, d, h, w, dst);
    lgms_arena_reset(&st->arena, mark);
}

static void maxpool(lgms_state *st, const float *x, int c, int d, int h, int w, float *out) {
    PROF(st, LGMS_PROF_ELEMENTWISE, 0, lgms_par_maxpool2x(st->team, x, c, d, h, w, out));
}

/* One sample, D x H x W (D = 1 in 2-D). Level l has sides >> l (depth too in 3-D). */
static void forward_one(lgms_state *st, const float *in, int d, int h, int w, float *out) {
    const lgms_model *m = st->m;
    const int *c = m->meta.dims;
    int D[5], H[5], W[5];
    size_t s[5];
    for (int l = 0; l < 5; l++) {
        D[l] = is3d(st) ? d >> l : 1, H[l] = h >> l, W[l] = w >> l;
        s[l] = (size_t)D[l] * H[l] * W[l];
    }
    lgms_arena *ar = &st->arena;
    float *cat2 = alloc(st, 2 * c[0] * s[0]), *cat3 = alloc(st, 2 * c[1] * s[1]);
    float *cat4 = alloc(st, 2 * c[2] * s[2]), *cat5 = alloc(st, 2 * c[3] * s[3]);
    size_t mark = lgms_arena_mark(ar);

    float *t = alloc(st, c[0] * s[0]);
    run_conv(st, &m->stem, in, D[0], H[0], W[0], t);
    run_encoder(st, 0, t, D[0], H[0], W[0], cat2); /* x1 */
    lgms_arena_reset(ar, mark);

    t = alloc(st, c[0] * s[1]);
    maxpool(st, cat2, c[0], D[0], H[0], W[0], t);
    run_encoder(st, 1, t, D[1], H[1], W[1], cat3); /* x2 */
    lgms_arena_reset(ar, mark);

    t = alloc(st, c[1] * s[2]);
    maxpool(st, cat3, c[1], D[1], H[1], W[1], t);
    run_encoder(st, 2, t, D[2], H[2], W[2], cat4); /* x3 */
    lgms_arena_reset(ar, mark);

    t = alloc(st, c[2] * s[3]);
    maxpool(st, cat4, c[2], D[2], H[2], W[2], t);
    run_gms(st, &m->enc4, t, D[3], H[3], W[3], cat5); /* x4 */
    lgms_arena_reset(ar, mark);

    t = alloc(st, c[3] * s[4]);
    maxpool(st, cat5, c[3], D[3], H[3], W[3], t);
    float *x5 = alloc(st, c[4] * s[4]);
    run_gms(st, &m->enc5, t, D[4], H[4], W[4], x5);
    run_up(st, &m->up5, x5, D[4], H[4], W[4], cat5 + c[3] * s[3]);
    lgms_arena_reset(ar, mark);

    float *d5 = alloc(st, c[3] * s[3]);
    run_gms(st, &m->dec5, cat5, D[3], H[3], W[3], d5);
    run_up(st, &m->up4, d5, D[3], H[3], W[3], cat4 + c[2] * s[2]);
    lgms_arena_reset(ar, mark);

    float *f = alloc(st, c[2] * s[2]), *d4 = alloc(st, c[2] * s[2]);
    run_fuse(st, &m->fuse4, cat4, D[2], H[2], W[2], f);
    run_gms(st, &m->dec4, f, D[2], H[2], W[2], d4);
    run_up(st, &m->up3, d4, D[2], H[2], W[2], cat3 + c[1] * s[1]);
    lgms_arena_reset(ar, mark);

    f = alloc(st, c[1] * s[1]);
    run_fuse(st, &m->fuse3, cat3, D[1], H[1], W[1], f);
    run_up(st, &m->up2, f, D[1], H[1], W[1], cat2 + c[0] * s[0]);
    lgms_arena_reset(ar, mark);

    f = alloc(st, c[0] * s[0]);
    run_fuse(st, &m->fuse2, cat2, D[0], H[0], W[0], f);
    run_conv(st, &m->head, f, D[0], H[0], W[0], out);
    lgms_arena_reset(ar, 0);
}

lgms_state *lgms_state_new(const lgms_model *m) {
    lgms_state *st = calloc(1, sizeof *st);
    if (st) st->m = m, st->nthreads = 1;
    return st;
}

lgms_status lgms_state_set_threads(lgms_state *st, int n) {
    if (n < 1) return LGMS_ERR_ARG;
    if (n == st->nthreads) return LGMS_OK;
    lgms_threads *team = n > 1 ? lgms_threads_new(n) : NULL;
    if (n > 1 && !team) return LGMS_ERR_NOMEM;
    lgms_threads_free(st->team);
    st->team = team, st->nthreads = n;
    return LGMS_OK;
}

int lgms_state_threads(const lgms_state *st) { return st->nthreads; }

void lgms_state_run(lgms_state *st, void (*fn)(void *arg, int index, int count), void *arg) {
    lgms_threads_run(st->team, fn, arg);
}

void lgms_state_free(lgms_state *st) {
    if (!st) return;
    lgms_threads_free(st->team);
    lgms_arena_free(&st->arena);
    free(st);
}

size_t lgms_state_scratch_bytes(const lgms_state *st) { return st->arena.peak * sizeof(float); }

void lgms_state_set_profiling(lgms_state *st, int on) { st->profiling = on; }

void lgms_state_profile(const lgms_state *st, lgms_profile *out) { *out = st->prof; }

const char *lgms_prof_class_name(lgms_prof_class c) {
    static const char *names[LGMS_PROF_COUNT] = {"dense conv kxk", "grouped conv", "1x1 conv",   "depthwise",
                                                 "attention",      "linear",       "elementwise"};
    return c < LGMS_PROF_COUNT ? names[c] : "?";
}

/* Run n samples of d x h x w (d = 1 for a 2-D model). */
static lgms_status forward(lgms_state *st, const float *input, int n, int d, int h, int w, float *output, char *err,
                           size_t errlen) {
    const lgms_meta *mt = &st->m->meta;
    int bad_d = mt->spatial_dims == 3 ? (d < 32 || d % 32 || d > LGMS_MAX_SIDE) : d != 1;
    if (n < 1 || bad_d || h < 32 || w < 32 || h % 32 || w % 32 || h > LGMS_MAX_SIDE || w > LGMS_MAX_SIDE) {
        if (mt->spatial_dims == 3)
            snprintf(err, errlen,
                     "input size %dx%dx%dx%d is illegal: depth, height and width must be multiples of 32 (32..%d)", n,
                     d, h, w, LGMS_MAX_SIDE);
        else
            snprintf(err, errlen, "input size %dx%dx%d is illegal: height and width must be multiples of 32 (32..%d)",
                     n, h, w, LGMS_MAX_SIDE);
        return LGMS_ERR_ARG;
    }
    if (lgms_arena_reserve(&st->arena)) {
        snprintf(err, errlen, "cannot reserve address space for the scratch arena");
        return LGMS_ERR_NOMEM;
    }
    if (setjmp(st->oom)) {
        lgms_arena_reset(&st->arena, 0);
        snprintf(err, errlen, "out of memory running the network at %dx%dx%d (scratch reservation exhausted)", d, h, w);
        return LGMS_ERR_NOMEM;
    }
    st->arena.on_oom = &st->oom;
    memset(&st->prof, 0, sizeof st->prof);
    size_t vol = (size_t)d * h * w, in_size = (size_t)mt->in_channels * vol, out_size = (size_t)mt->num_classes * vol;
    for (int i = 0; i < n; i++)
        forward_one(st, input + i * in_size, d, h, w, output + i * out_size);
    st->arena.on_oom = NULL;
    return LGMS_OK;
}

lgms_status lgms_forward(lgms_state *st, const float *input, int n, int h, int w, float *output, char *err,
                         size_t errlen) {
    if (st->m->meta.spatial_dims == 3) {
        snprintf(err, errlen, "model %s is 3-D: run it with lgms_forward3d on N x C x D x H x W", st->m->meta.name);
        return LGMS_ERR_ARG;
    }
    unsigned fp = lgms_fpmode_enter();
    lgms_status rc = forward(st, input, n, 1, h, w, output, err, errlen);
    lgms_fpmode_leave(fp);
    return rc;
}

lgms_status lgms_forward3d(lgms_state *st, const float *input, int n, int d, int h, int w, float *output, char *err,
                           size_t errlen) {
    if (st->m->meta.spatial_dims != 3) {
        snprintf(err, errlen, "model %s is 2-D: run it with lgms_forward on N x C x H x W", st->m->meta.name);
        return LGMS_ERR_ARG;
    }
    unsigned fp = lgms_fpmode_enter();
    lgms_status rc = forward(st, input, n, d, h, w, output, err, errlen);
    lgms_fpmode_leave(fp);
    return rc;
}

/* FLOPs of the convolutions, linears and attention matmuls at d x h x w (d = 1 in 2-D;
 * what benchmarks divide by). */
static double model_flops(const lgms_model *m, int d, int h, int w) {
    const lgms_meta *mt = &m->meta;
    int nd3 = mt->spatial_dims == 3, groups = nd3 ? 8 : 4;
    double total = 0;
    size_t s[5];
    for (int i = 0; i < 5; i++)
        s[i] = (size_t)(nd3 ? d >> i : 1) * (size_t)(h >> i) * (size_t)(w >> i);
    total += conv_flops(&m->stem, s[0]);
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < mt->depths[e]; i++) {
            const lgms_lms_block *L = &m->enc_lms[e][i];
            total += conv_flops(&L->pbs, s[e]) + conv_flops(&L->cbs, s[e]);
            for (int q = 0; q < 4; q++) {
                int k = 3 + 2 * q;
                total += 2.0 * (L->c / 4) * k * k * (nd3 ? k : 1) * (double)s[e];
            }
        }
        total += conv_flops(&m->enc_pbs[e], s[e]);
    }
    const lgms_gms_block *gms[4] = {&m->enc4, &m->enc5, &m->dec5, &m->dec4};
    const int at[4] = {3, 4, 3, 2};
    for (int i = 0; i < 4; i++) {
        const lgms_gms_block *G = gms[i];
        size_t p = s[at[i]];
        double n = (double)p / groups, inner = LGMS_HEADS * LGMS_HEAD_DIM;
        total += conv_flops(&G->conv1, p) + conv_flops(&G->conv2, p) + conv_flops(&G->conv3, p) +
                 conv_flops(&G->conv4, p) + 2.0 * G->b * 9 * (nd3 ? 3 : 1) * (double)p;
        total += groups * 2.0 * n * (G->a * 3 * inner + inner * G->a + 2.0 * G->a * G->mlp); /* linears */
        total += groups * 2.0 * 2.0 * n * n * inner;                                         /* QK^T and AV */
    }
    total += conv_flops(&m->up5.conv, s[3]) + conv_flops(&m->up4.conv, s[2]) + conv_flops(&m->up3.conv, s[1]) +
             conv_flops(&m->up2.conv, s[0]);
    const lgms_fuse_block *fu[3] = {&m->fuse4, &m->fuse3, &m->fuse2};
    for (int i = 0; i < 3; i++)
        total += conv_flops(&fu[i]->c0, s[2 - i]) + conv_flops(&fu[i]->c1, s[2 - i]) + conv_flops(&fu[i]->c2, s[2 - i]);
    total += conv_flops(&m->head, s[0]);
    return total;
}

double lgms_model_flops(const lgms_model *m, int h, int w) { return model_flops(m, 1, h, w); }

double lgms_model_flops3d(const lgms_model *m, int d, int h, int w) { return model_flops(m, d, h, w); }
