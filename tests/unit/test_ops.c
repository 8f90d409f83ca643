/* test_ops.c - engine kernels against naive references: the direct 3x3 convolution and the
 * im2col path on shapes that take each, every op split over thread teams, attention with
 * key counts on and off the AVX2 kernel, and the thread team itself. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../engine/act_avx2.h"
#include "../../engine/conv_direct.h"
#include "../../engine/conv_pointwise.h"
#include "../../engine/conv_winograd.h"
#include "../../engine/ops.h"
#include "../../engine/parallel_ops.h"
#include "../../engine/threads.h"
#include "../../engine/upconv.h"
#include "../../engine/vecmath.h"

static float *random_floats(size_t n, unsigned seed) {
    float *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    srand(seed);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    return v;
}

static float act_ref(float v, lgms_act act) {
    switch (act) {
    case LGMS_ACT_RELU: return v > 0 ? v : 0;
    case LGMS_ACT_SILU: return v / (1.0f + expf(-v));
    case LGMS_ACT_GELU: return 0.5f * v * (1.0f + erff(v / sqrtf(2.0f)));
    default: return v;
    }
}

/* y = post(act(conv(x) + b)), zero padding, in double. */
static void conv_ref(const lgms_conv *c, const float *x, int h, int w, float *y) {
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, p = c->k / 2;
    for (int o = 0; o < c->cout; o++) {
        int g = o / cout_g;
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++) {
                double s = c->bias ? c->bias[o] : 0;
                for (int ci = 0; ci < cin_g; ci++)
                    for (int ky = 0; ky < c->k; ky++)
                        for (int kx = 0; kx < c->k; kx++) {
                            int sy = yy + ky - p, sx = xx + kx - p;
                            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                            s += (double)c->weight[((o * cin_g + ci) * c->k + ky) * c->k + kx] *
                                 x[((size_t)(g * cin_g + ci) * h + sy) * w + sx];
                        }
                float v = act_ref((float)s, c->act);
                if (c->post_scale) v = v * c->post_scale[o] + c->post_shift[o];
                y[((size_t)o * h + yy) * w + xx] = v;
            }
    }
}

/* Max abs error of the threaded conv against conv_ref; wino: with Winograd filters, packed:
 * with 1x1 filters packed for conv_pointwise.c (as the model loader prepares both). */
static double conv_error_on(int cin, int cout, int k, int groups, int h, int w, lgms_act act, int post, int threads,
                            int wino, int packed, double *want_max) {
    lgms_conv c = {.cin = cin, .cout = cout, .k = k, .groups = groups, .act = act};
    size_t wn = (size_t)cout * (cin / groups) * k * k;
    float *wt = random_floats(wn, 1), *b = random_floats((size_t)cout, 2), *s = random_floats((size_t)cout, 3);
    float *t = random_floats((size_t)cout, 4), *x = random_floats((size_t)cin * h * w, 5);
    c.weight = wt, c.bias = b;
    if (post) c.post_scale = s, c.post_shift = t;
    float *u = NULL;
    if (wino) {
        cr_assert(lgms_winograd_layer(&c));
        u = malloc(sizeof(float) * lgms_winograd_weights_size(&c));
        cr_assert_eq(lgms_winograd_transform_weights(&c, u), 0);
        c.wino = u;
    }
    if (packed) {
        cr_assert(lgms_pointwise_layer(&c));
        u = malloc(sizeof(float) * lgms_pointwise_weights_size(&c));
        lgms_pointwise_pack_weights(&c, u);
        c.packed = u;
    }
    float *want = malloc(sizeof(float) * cout * h * w), *got = malloc(sizeof(float) * cout * h * w);
    float *scratch = malloc(sizeof(float) * (lgms_conv_scratch(&c, 1, h, w) * threads + 1));
    conv_ref(&c, x, h, w, want);
    lgms_threads *team = lgms_threads_new(threads);
    lgms_par_conv(team, &c, x, 1, h, w, got, scratch);
    lgms_threads_free(team);
    double e = 0, big = 0;
    for (size_t i = 0; i < (size_t)cout * h * w; i++)
        e = fmax(e, fabs((double)got[i] - want[i])), big = fmax(big, fabs((double)want[i]));
    if (want_max) *want_max = big;
    free(wt), free(b), free(s), free(t), free(x), free(want), free(got), free(scratch), free(u);
    return e;
}

static double conv_error(int cin, int cout, int k, int groups, int h, int w, lgms_act act, int post, int threads) {
    return conv_error_on(cin, cout, k, groups, h, w, act, post, threads, 0, 0, NULL);
}

Test(ops, conv3x3_direct_and_im2col_paths_match_a_naive_convolution) {
    struct {
        int cin, cout, k, groups, h, w, post;
        lgms_act act;
    } cases[] = {
        {3, 16, 3, 1, 20, 32, 0, LGMS_ACT_RELU}, /* direct: the stem shape */
        {32, 32, 3, 2, 9, 48, 1, LGMS_ACT_GELU}, /* direct, grouped, post-affine, odd height */
        {4, 13, 3, 1, 7, 16, 0, LGMS_ACT_SILU},  /* direct, output channels not a multiple of 6 */
        {8, 40, 3, 1, 6, 16, 0, LGMS_ACT_NONE},  /* im2col: 40 outputs per group */
        {6, 12, 3, 1, 5, 20, 1, LGMS_ACT_GELU},  /* im2col: width not a multiple of 16 */
        {16, 24, 1, 1, 4, 12, 1, LGMS_ACT_SILU}, /* 1x1 */
        {24, 24, 3, 3, 8, 32, 0, LGMS_ACT_RELU}, /* direct, three groups */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads++) {
            double e = conv_error(cases[i].cin, cases[i].cout, cases[i].k, cases[i].groups, cases[i].h, cases[i].w,
                                  cases[i].act, cases[i].post, threads);
            cr_assert_leq(e, 2e-5, "case %zu, %d thread(s): max abs error %g", i, threads, e);
        }
}

Test(ops, avx2_activations_match_the_scalar_forms) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    size_t n = 1003; /* a tail past the last whole vector */
    float *x = random_floats(n, 21), *g = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] *= 9.0f; /* past erf's clamp and deep into exp's range */
    memcpy(g, x, sizeof(float) * n), memcpy(s, x, sizeof(float) * n);
    lgms_gelu_affine_avx2(g, n, 1.25f, -0.5f, 0.75f, 0.125f);
    lgms_silu_affine_avx2(s, n, 1.25f, -0.5f, 0.75f, 0.125f);
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * 1.25f - 0.5f;
        double want_g = 0.5 * v * (1.0 + erf(v / sqrt(2.0))) * 0.75 + 0.125,
               want_s = v / (1.0 + exp(-v)) * 0.75 + 0.125;
        cr_assert_leq(fabs(g[i] - want_g), 4e-6 * (1 + fabs(want_g)), "GELU at %g: %g vs %g", v, g[i], want_g);
        cr_assert_leq(fabs(s[i] - want_s), 4e-6 * (1 + fabs(want_s)), "SiLU at %g: %g vs %g", v, s[i], want_s);
    }
    /* far below erf's clamp GELU is 0 to float precision: not h (1 + erf) growing with |v| */
    float far[19] = {-40.0f, -300.0f, -1e30f, -INFINITY};
    for (int i = 4; i < 19; i++)
        far[i] = -6.0f - (float)i;
    lgms_gelu_affine_avx2(far, 19, 1.0f, 0.0f, 1.0f, 0.0f);
    for (int i = 0; i < 19; i++)
        cr_assert_leq(fabs(far[i]), 1e-6, "GELU far below 0, value %d: %g", i, far[i]);
    free(x), free(g), free(s);
}

Test(ops, pointwise_kernel_matches_a_naive_convolution) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return; /* sgemm takes 1x1 there */
    struct {
        int cin, cout, h, w, post;
        lgms_act act;
    } cases[] = {
        {16, 24, 4, 12, 1, LGMS_ACT_SILU},  /* whole 4-channel blocks, ragged columns */
        {32, 13, 5, 37, 0, LGMS_ACT_GELU},  /* a partial channel block */
        {7, 5, 3, 8, 0, LGMS_ACT_NONE},     /* one channel past the last whole block */
        {256, 64, 9, 40, 1, LGMS_ACT_GELU}, /* deep input: one register block per panel */
        {16, 32, 40, 40, 0, LGMS_ACT_RELU}, /* several panels and kernel calls */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads++) {
            double e = conv_error_on(cases[i].cin, cases[i].cout, 1, 1, cases[i].h, cases[i].w, cases[i].act,
                                     cases[i].post, threads, 0, 1, NULL);
            cr_assert_leq(e, 2e-5, "case %zu, %d thread(s): max abs error %g", i, threads, e);
        }
}

/* The AVX-512 kernel against the AVX2 one on the same CPU: the same bits (each sum is the
 * same chain of FMAs), on shapes that take every path of both (48-column blocks, masked
 * tails of 1-47 columns, the 24-column tail, short row panels, x read in place or copied),
 * within 1e-5 of a double-precision product, and nothing written outside the ncols columns
 * of each of the rows output rows. */
Test(ops, pointwise_avx512_and_avx2_kernels_agree_to_the_bit) {
    if (!__builtin_cpu_supports("avx512f")) {
        cr_log_warn("no AVX-512 on this CPU: only the AVX2 kernel runs here");
        return;
    }
    static const int rows_c[] = {4, 7, 13, 64}, cin_c[] = {3, 32, 256};
    static const size_t ncols_c[] = {1, 8, 15, 16, 17, 24, 40, 47, 48, 49, 72, 100, 200, 500};
    for (size_t ri = 0; ri < 4; ri++)
        for (size_t ki = 0; ki < 3; ki++)
            for (size_t ni = 0; ni < sizeof ncols_c / sizeof ncols_c[0]; ni++)
                for (int wide_ldx = 0; wide_ldx < 3; wide_ldx++) {
                    int rows = rows_c[ri], cin = cin_c[ki];
                    size_t n = ncols_c[ni], ldx = wide_ldx == 0 ? n : wide_ldx == 1 ? n + 5 : 4096, ldo = n + 3;
                    float *w = random_floats((size_t)rows * cin, 31), *x = random_floats((size_t)cin * ldx, 32);
                    float *wp = malloc(sizeof(float) * lgms_pointwise_packed_size(rows, cin));
                    float *sc = malloc(sizeof(float) * lgms_pointwise_gemm_scratch(cin));
                    float *o2 = malloc(sizeof(float) * rows * ldo), *o5 = malloc(sizeof(float) * rows * ldo);
                    for (size_t i = 0; i < (size_t)rows * ldo; i++)
                        o2[i] = o5[i] = 12345.0f; /* canaries past ncols */
                    lgms_pointwise_pack(w, rows, cin, (size_t)cin, wp);
                    lgms_avx512_allowed = 0;
                    lgms_pointwise_gemm(wp, rows, cin, x, ldx, n, o2, ldo, sc);
                    lgms_avx512_allowed = 1;
                    lgms_pointwise_gemm(wp, rows, cin, x, ldx, n, o5, ldo, sc);
                    cr_assert_eq(memcmp(o2, o5, sizeof(float) * rows * ldo), 0,
                                 "rows %d, cin %d, ncols %zu, ldx %zu: the kernels differ", rows, cin, n, ldx);
                    for (int r = 0; r < rows; r++)
                        for (size_t j = 0; j < ldo; j++) {
                            float got = o5[(size_t)r * ldo + j];
                            if (j >= n) {
                                cr_assert_eq(got, 12345.0f, "rows %d cin %d ncols %zu: column %zu written", rows, cin,
                                             n, j);
                                continue;
                            }
                            double want = 0;
                            for (int k = 0; k < cin; k++)
                                want += (double)w[(size_t)r * cin + k] * x[(size_t)k * ldx + j];
                            cr_assert_leq(fabs(got - want), 1e-5 * (1 + fabs(want)), "rows %d cin %d ncols %zu", rows,
                                          cin, n);
                        }
                    free(w), free(x), free(wp), free(sc), free(o2), free(o5);
                }
}

Test(ops, winograd_matches_a_naive_convolution) {
    struct {
        int cin, cout, groups, h, w, post;
        lgms_act act;
    } cases[] = {
        {32, 32, 1, 8, 12, 0, LGMS_ACT_NONE},   /* the smallest layer it takes */
        {64, 48, 1, 12, 20, 1, LGMS_ACT_GELU},  /* post-affine; block rows split over threads */
        {128, 64, 2, 4, 4, 0, LGMS_ACT_SILU},   /* grouped, one block */
        {96, 40, 1, 6, 8, 0, LGMS_ACT_RELU},    /* height not a multiple of 4: falls back to im2col */
        {32, 64, 1, 16, 16, 1, LGMS_ACT_NONE},  /* direct-kernel width, Winograd first */
        {32, 32, 1, 36, 256, 0, LGMS_ACT_NONE}, /* 9 block rows: two chunks (5 + 4) at 1 thread */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads++) {
            double big, e = conv_error_on(cases[i].cin, cases[i].cout, 3, cases[i].groups, cases[i].h, cases[i].w,
                                          cases[i].act, cases[i].post, threads, 1, 0, &big);
            /* F(4x4, 3x3) rounds to a few 1e-6 of the outputs' scale (here up to ~20: hundreds
             * of products of values in [-1, 1]); direct summation stays near 1e-7 */
            cr_assert_leq(e, 1e-5 * big, "case %zu, %d thread(s): max abs error %g, outputs up to %g", i, threads, e,
                          big);
        }
    lgms_conv c = {.cin = 32, .cout = 16, .k = 3, .groups = 1};
    cr_assert_not(lgms_winograd_layer(&c), "16 outputs: the transforms would cost more than they save");
    lgms_conv head = {.cin = 16, .cout = 1, .k = 1, .groups = 1};
    cr_assert_not(lgms_pointwise_layer(&head), "one output: sgemm");
    c.cout = 64, c.groups = 2;
    cr_assert_not(lgms_winograd_layer(&c), "16 inputs per group");
    c.groups = 1, c.kd = 3;
    cr_assert_not(lgms_winograd_layer(&c), "3-D");
}

/* On a small plane threads split a Winograd layer by output channels, each transforming
 * the whole input; on a large one by block rows. Either way every output is the one-thread
 * value, bit for bit (slices of 8 outputs: 7 slices over 2 and 3 threads, unevenly). */
Test(ops, winograd_split_by_outputs_gives_the_one_thread_bits) {
    lgms_conv c = {.cin = 64, .cout = 56, .k = 3, .groups = 1, .act = LGMS_ACT_GELU};
    int h = 16, w = 16;
    c.weight = random_floats((size_t)56 * 64 * 9, 11), c.bias = random_floats(56, 12);
    float *u = malloc(sizeof(float) * lgms_winograd_weights_size(&c)), *x = random_floats((size_t)64 * h * w, 13);
    cr_assert_eq(lgms_winograd_transform_weights(&c, u), 0);
    c.wino = u;
    cr_assert_not(lgms_winograd_by_outputs(&c, h, w, 1));
    cr_assert(lgms_winograd_by_outputs(&c, h, w, 2) && lgms_winograd_by_outputs(&c, h, w, 3));
    cr_assert_not(lgms_winograd_by_outputs(&c, 128, 128, 2), "1024 blocks: split by rows");
    float *out[4];
    for (int threads = 1; threads <= 3; threads++) {
        float *scratch = malloc(sizeof(float) * lgms_conv_scratch(&c, 1, h, w) * threads);
        out[threads] = malloc(sizeof(float) * 56 * h * w);
        lgms_threads *team = lgms_threads_new(threads);
        lgms_par_conv(team, &c, x, 1, h, w, out[threads], scratch);
        lgms_threads_free(team);
        free(scratch);
        if (threads > 1)
            cr_assert_eq(memcmp(out[threads], out[1], sizeof(float) * 56 * h * w), 0, "%d threads", threads);
    }
    for (int threads = 1; threads <= 3; threads++)
        free(out[threads]);
    free((float *)c.weight), free((float *)c.bias), free(u), free(x);
}

/* out = conv(in) + res in the epilogue gives the bits of the conv and then the add, on every
 * path (1x1 packed, Winograd by rows and by outputs, direct, im2col) and thread count. */
Test(ops, residual_sum_in_the_epilogue_gives_the_bits_of_conv_then_add) {
    struct {
        int cin, cout, k, h, w, wino, packed;
        lgms_act act;
    } cases[] = {
        {48, 40, 1, 9, 70, 0, 1, LGMS_ACT_GELU},  /* the pointwise kernel */
        {64, 48, 3, 40, 36, 1, 0, LGMS_ACT_NONE}, /* Winograd, split by block rows */
        {64, 48, 3, 12, 12, 1, 0, LGMS_ACT_SILU}, /* Winograd, split by outputs on 2-3 threads */
        {8, 16, 3, 10, 128, 0, 0, LGMS_ACT_RELU}, /* the direct kernel */
        {12, 20, 5, 7, 9, 0, 0, LGMS_ACT_NONE},   /* im2col */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int cin = cases[k].cin, cout = cases[k].cout, h = cases[k].h, w = cases[k].w;
        lgms_conv c = {.cin = cin, .cout = cout, .k = cases[k].k, .groups = 1, .act = cases[k].act};
        c.weight = random_floats((size_t)cout * cin * c.k * c.k, 21), c.bias = random_floats((size_t)cout, 22);
        float *u = NULL;
        if (cases[k].wino) {
            u = malloc(sizeof(float) * lgms_winograd_weights_size(&c));
            cr_assert_eq(lgms_winograd_transform_weights(&c, u), 0);
            c.wino = u;
        }
        if (cases[k].packed) {
            u = malloc(sizeof(float) * lgms_pointwise_weights_size(&c));
            lgms_pointwise_pack_weights(&c, u);
            c.packed = u;
        }
        size_t n = (size_t)cout * h * w;
        float *x = random_floats((size_t)cin * h * w, 23), *res = random_floats(n, 24);
        float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
        for (int threads = 1; threads <= 3; threads++) {
            float *scratch = malloc(sizeof(float) * (lgms_conv_scratch(&c, 1, h, w) * threads + 1));
            lgms_threads *team = lgms_threads_new(threads);
            lgms_par_conv(team, &c, x, 1, h, w, want, scratch);
            for (size_t i = 0; i < n; i++)
                want[i] += res[i];
            lgms_par_conv_add(team, &c, x, 1, h, w, got, res, scratch);
            lgms_threads_free(team);
            free(scratch);
            cr_assert_eq(memcmp(got, want, sizeof(float) * n), 0, "case %zu, %d thread(s)", k, threads);
        }
        free((float *)c.weight), free((float *)c.bias), free(u), free(x), free(res), free(want), free(got);
    }
}

Test(ops, conv_rows_into_a_buffer_of_their_own_match_the_whole_convolution) {
    struct {
        int cin, cout, k, groups, wino;
    } cases[] = {
        {32, 16, 3, 1, 0}, /* direct */
        {64, 32, 3, 1, 1}, /* Winograd */
        {8, 40, 3, 1, 0},  /* im2col */
        {16, 24, 1, 1, 0}, /* 1x1 */
    };
    int h = 10, w = 16, r0 = 2, r1 = 8;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lgms_conv c = {.cin = cases[i].cin,
                       .cout = cases[i].cout,
                       .k = cases[i].k,
                       .groups = cases[i].groups,
                       .act = LGMS_ACT_GELU};
        size_t wn = (size_t)c.cout * c.cin * c.k * c.k, cs = (size_t)(r1 - r0) * w + 5; /* a stride of its own */
        float *wt = random_floats(wn, 11), *b = random_floats((size_t)c.cout, 12);
        float *x = random_floats((size_t)c.cin * h * w, 13), *u = NULL;
        c.weight = wt, c.bias = b;
        if (cases[i].wino) {
            u = malloc(sizeof(float) * lgms_winograd_weights_size(&c));
            cr_assert_eq(lgms_winograd_transform_weights(&c, u), 0);
            c.wino = u;
        }
        float *whole = malloc(sizeof(float) * c.cout * h * w), *part = malloc(sizeof(float) * c.cout * cs);
        float *scratch = malloc(sizeof(float) * (lgms_conv_scratch(&c, 1, h, w) + 1));
        lgms_conv_run(&c, x, 1, h, w, whole, scratch);
        lgms_conv_rows_into(&c, x, 1, h, w, r0, r1, part, cs, scratch);
        for (int o = 0; o < c.cout; o++)
            for (int y = r0; y < r1; y++)
                for (int xx = 0; xx < w; xx++) {
                    float want = whole[((size_t)o * h + y) * w + xx], got = part[o * cs + (size_t)(y - r0) * w + xx];
                    cr_assert_leq(fabsf(got - want), 1e-5f, "case %zu, channel %d, row %d, column %d: %g vs %g", i, o,
                                  y, xx, got, want);
                }
        free(wt), free(b), free(x), free(u), free(whole), free(part), free(scratch);
    }
}

Test(ops, direct_kernel_is_chosen_only_where_it_applies) {
    lgms_conv c = {.cin = 32, .cout = 16, .k = 3, .groups = 1};
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 256), avx2);
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 24), 0, "width not a multiple of 16");
    c.cout = 128;
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 256), 0, "128 outputs per group go to sgemm");
    c.cout = 16, c.k = 1;
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 256), 0, "not 3x3");
    c.k = 3, c.kd = 3;
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 96), avx2, "3x3x3");
    c.k = 5, c.kd = 5;
    cr_assert_eq(lgms_conv3x3_direct_ok(&c, 96), 0, "5x5x5");
}

/* Softmax attention in double, channel-major qkv [3 * inner][n]: the reference for the kernels. */
static void attention_ref(const float *qkv, int n, int heads, float scale, float *out) {
    int inner = heads * 8;
    double *s = malloc(sizeof(double) * n);
    for (int e = 0; e < heads; e++)
        for (int i = 0; i < n; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int t = 0; t < 8; t++)
                    d += (double)qkv[(size_t)(e * 8 + t) * n + i] * qkv[(size_t)(inner + e * 8 + t) * n + j];
                s[j] = d * scale;
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < n; j++)
                sum += s[j] = exp(s[j] - mx);
            for (int t = 0; t < 8; t++) {
                double o = 0;
                for (int j = 0; j < n; j++)
                    o += s[j] * qkv[(size_t)(2 * inner + e * 8 + t) * n + j];
                out[(size_t)(e * 8 + t) * n + i] = (float)(o / sum);
            }
        }
    free(s);
}

Test(ops, attention_matches_softmax_reference_with_both_kernels) {
    int sizes[] = {1, 6, 24, 64, 75}; /* partial and whole blocks of eight queries, odd key counts */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int threads = 1; threads <= 3; threads += 2) {
            int n = sizes[k], heads = 4, inner = heads * 8;
            float *qkv = random_floats((size_t)n * 3 * inner, 7 + (unsigned)k);
            for (size_t i = 0; i < (size_t)n * 3 * inner; i++)
                qkv[i] *= 3.0f; /* peaked softmax rows too */
            float *want = malloc(sizeof(float) * n * inner), *got = malloc(sizeof(float) * n * inner);
            float *scratch = malloc(sizeof(float) * lgms_attention_scratch(n) * threads);
            attention_ref(qkv, n, heads, 0.35355339f, want);
            lgms_threads *team = lgms_threads_new(threads);
            lgms_par_attention(team, qkv, n, 1, heads, 8, 0.35355339f, got, scratch);
            lgms_threads_free(team);
            for (size_t i = 0; i < (size_t)n * inner; i++)
                cr_assert_leq(fabs((double)got[i] - want[i]), 1e-5, "n %d, %d thread(s), element %zu: %g vs %g", n,
                              threads, i, got[i], want[i]);
            /* each thread keeps to its lgms_attention_scratch(n) floats: a guard after one
             * thread's share stays untouched */
            size_t each = lgms_attention_scratch(n);
            float *guarded = malloc(sizeof(float) * (each + 256));
            for (size_t i = each; i < each + 256; i++)
                guarded[i] = -12345.0f;
            lgms_attention_heads(qkv, n, (size_t)n, heads, 8, 0.35355339f, 0, heads, got, guarded);
            for (size_t i = each; i < each + 256; i++)
                cr_assert_eq(guarded[i], -12345.0f, "n %d: scratch overrun at %zu of %zu", n, i, each);
            free(guarded);
            lgms_attention_portable(qkv, n, (size_t)n, heads, 8, 0.35355339f, got, scratch);
            for (size_t i = 0; i < (size_t)n * inner; i++)
                cr_assert_leq(fabs((double)got[i] - want[i]), 1e-5, "portable kernel, n %d, element %zu: %g vs %g", n,
                              i, got[i], want[i]);
            free(qkv), free(want), free(got), free(scratch);
        }
}

/* The AVX-512 forms of the direct 3x3 kernel, the GELU/SiLU epilogues and attention (one
 * template each with their AVX2 forms, engine/simd.h) give the AVX2 forms' bits. */
Test(ops, avx512_forms_give_the_avx2_bits) {
    if (!__builtin_cpu_supports("avx512f")) {
        cr_log_warn("no AVX-512 on this CPU: only the AVX2 forms run here");
        return;
    }
    float *out[2];
    /* direct 3x3: two groups of 16, a width of 112 = one 64-column block, one 32-column one
     * and one 16-column one; outputs zeroed first, so a column left unwritten shows */
    enum { DW = 112 };
    lgms_conv c = {.cin = 32, .cout = 32, .k = 3, .groups = 2, .act = LGMS_ACT_RELU};
    float *wt = random_floats((size_t)32 * 16 * 9, 41), *b = random_floats(32, 42), *x = random_floats(32 * 5 * DW, 43);
    c.weight = wt, c.bias = b;
    cr_assert(lgms_conv3x3_direct_ok(&c, DW));
    float *scratch = malloc(sizeof(float) * (lgms_conv_scratch(&c, 1, 5, DW) + 1));
    lgms_threads *team = lgms_threads_new(1);
    for (int wide = 0; wide < 2; wide++) {
        lgms_avx512_allowed = wide;
        out[wide] = calloc((size_t)32 * 5 * DW, sizeof(float));
        lgms_par_conv(team, &c, x, 1, 5, DW, out[wide], scratch);
    }
    cr_assert_eq(memcmp(out[0], out[1], sizeof(float) * 32 * 5 * DW), 0, "direct 3x3");
    free(out[0]), free(out[1]), free(wt), free(b), free(x), free(scratch);
    /* GELU and SiLU epilogues: 1003 values, past both clamps, with a ragged tail */
    for (int act = 0; act < 2; act++) {
        float *v = random_floats(1003, 44);
        for (int i = 0; i < 1003; i++)
            v[i] *= 9.0f;
        for (int wide = 0; wide < 2; wide++) {
            lgms_avx512_allowed = wide;
            out[wide] = malloc(sizeof(float) * 1003);
            memcpy(out[wide], v, sizeof(float) * 1003);
            (act ? lgms_silu_affine_avx2 : lgms_gelu_affine_avx2)(out[wide], 1003, 1.25f, -0.5f, 0.75f, 0.125f);
        }
        cr_assert_eq(memcmp(out[0], out[1], sizeof(float) * 1003), 0, "%s", act ? "SiLU" : "GELU");
        free(out[0]), free(out[1]), free(v);
    }
    /* attention: 75 tokens (a partial block at either width), 4 heads */
    int n = 75, heads = 4, inner = heads * 8;
    float *qkv = random_floats((size_t)n * 3 * inner, 45);
    float *ascratch = malloc(sizeof(float) * lgms_attention_scratch(n));
    for (int wide = 0; wide < 2; wide++) {
        lgms_avx512_allowed = wide;
        out[wide] = malloc(sizeof(float) * n * inner);
        lgms_par_attention(team, qkv, n, 1, heads, 8, 0.35355339f, out[wide], ascratch);
    }
    cr_assert_eq(memcmp(out[0], out[1], sizeof(float) * n * inner), 0, "attention");
    free(out[0]), free(out[1]), free(qkv), free(ascratch);
    lgms_threads_free(team);
    lgms_avx512_allowed = 1;
}

typedef struct {
    atomic_int calls;
    int seen[8];
    size_t covered[64];
} team_probe;

static void probe_task(void *p, int i, int n) {
    team_probe *t = p;
    atomic_fetch_add(&t->calls, 1);
    t->seen[i] = n;
    size_t b, e;
    lgms_split(64, i, n, &b, &e);
    for (size_t k = b; k < e; k++)
        t->covered[k]++;
}

Test(threads, every_thread_runs_once_and_splits_cover_the_range_exactly) {
    for (int n = 1; n <= 5; n++) {
        lgms_threads *team = lgms_threads_new(n);
        cr_assert_eq(team == NULL, n == 1, "a team of %d", n);
        cr_assert_eq(lgms_threads_count(team), n);
        for (int round = 0; round < 200; round++) { /* back to back, as an inference issues ops */
            team_probe t = {0};
            lgms_threads_run(team, probe_task, &t);
            cr_assert_eq(atomic_load(&t.calls), n);
            for (int i = 0; i < n; i++)
                cr_assert_eq(t.seen[i], n);
            for (int k = 0; k < 64; k++)
                cr_assert_eq(t.covered[k], 1, "item %d covered %zu times by %d threads", k, t.covered[k], n);
        }
        lgms_threads_free(team);
    }
}

Test(threads, a_team_that_slept_wakes_for_the_next_run) {
    lgms_threads *team = lgms_threads_new(3);
    team_probe t = {0};
    lgms_threads_run(team, probe_task, &t);
    struct timespec pause = {0, 50 * 1000 * 1000}; /* far past the spin: helpers are asleep */
    nanosleep(&pause, NULL);
    team_probe u = {0};
    lgms_threads_run(team, probe_task, &u);
    cr_assert_eq(atomic_load(&u.calls), 3);
    lgms_threads_free(team);
}

/* ---- the same kernels on 3-D tensors (C x D x H x W) ---- */

static void conv3_ref(const lgms_conv *c, const float *x, int d, int h, int w, float *y) {
    int cin_g = c->cin / c->groups, cout_g = c->cout / c->groups, p = c->k / 2, k = c->k;
    for (int o = 0; o < c->cout; o++)
        for (int z = 0; z < d; z++)
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    double s = c->bias ? c->bias[o] : 0;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int kz = 0; kz < k; kz++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    int sz = z + kz - p, sy = yy + ky - p, sx = xx + kx - p;
                                    if (sz < 0 || sz >= d || sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                                    s += (double)c->weight[(((o * cin_g + ci) * k + kz) * k + ky) * k + kx] *
                                         x[(((size_t)(o / cout_g * cin_g + ci) * d + sz) * h + sy) * w + sx];
                                }
                    y[(((size_t)o * d + z) * h + yy) * w + xx] = act_ref((float)s, c->act);
                }
}

Test(ops3d, conv3d_matches_a_naive_convolution) {
    struct {
        int cin, cout, k, groups, d, h, w;
    } cases[] = {
        {1, 6, 3, 1, 5, 6, 7},    /* im2col: width not a multiple of 16 */
        {8, 8, 3, 2, 4, 5, 16},   /* direct, grouped */
        {6, 4, 1, 1, 3, 4, 5},    /* 1x1x1 */
        {16, 8, 3, 1, 6, 6, 6},   /* im2col */
        {4, 16, 3, 1, 5, 7, 32},  /* direct: threads split rows inside slices */
        {64, 6, 3, 1, 3, 12, 32}, /* direct: several tiles per slice */
        {16, 40, 3, 1, 3, 4, 16}, /* im2col: 40 outputs per group */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 3; threads += 2) {
            int cin = cases[i].cin, cout = cases[i].cout, k = cases[i].k, g = cases[i].groups;
            int d = cases[i].d, h = cases[i].h, w = cases[i].w;
            lgms_conv c = {.cin = cin, .cout = cout, .k = k, .kd = k, .groups = g, .act = LGMS_ACT_SILU};
            float *wt = random_floats((size_t)cout * (cin / g) * k * k * k, 11), *b = random_floats((size_t)cout, 12);
            float *x = random_floats((size_t)cin * d * h * w, 13);
            c.weight = wt, c.bias = b;
            size_t n = (size_t)cout * d * h * w;
            double terms = (double)(cin / g) * k * k * k;
            float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
            float *scratch = malloc(sizeof(float) * (lgms_conv_scratch(&c, d, h, w) * threads + 1));
            conv3_ref(&c, x, d, h, w, want);
            lgms_threads *team = lgms_threads_new(threads);
            lgms_par_conv(team, &c, x, d, h, w, got, scratch);
            lgms_threads_free(team);
            for (size_t j = 0; j < n; j++)
                /* float rounding grows with the terms summed (1728 in case 5) */
                cr_assert_leq(fabs((double)got[j] - want[j]), 2e-5 * fmax(1.0, sqrt(terms / 64.0)),
                              "case %zu, %d threads, element %zu: %g vs %g", i, threads, j, got[j], want[j]);
            free(wt), free(b), free(x), free(want), free(got), free(scratch);
        }
}

/* 2-D depthwise (the padded-row ring of depthwise.c): widths below, at and past the vector
 * blocks, ragged ends, every LGMSNet kernel side; the AVX2 form gives the AVX-512 form's bits. */
Test(ops3d, depthwise_planes_match_the_dense_reference_at_both_widths) {
    static const int widths[] = {5, 16, 70, 200};
    int h = 11, ch = 2;
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
        for (int k = 3; k <= 9; k += 2) {
            int w = widths[wi];
            size_t n = (size_t)ch * h * w;
            float *wt = random_floats((size_t)ch * k * k, 50 + k), *b = random_floats((size_t)ch, 60 + k);
            float *x = random_floats(n, 70 + k), *want = malloc(sizeof(float) * n), *got[2];
            for (int o = 0; o < ch; o++) /* the 2-D reference, in double */
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) {
                        double sum = b[o];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int sy = y + ky - k / 2, sx = xx + kx - k / 2;
                                if (sy >= 0 && sy < h && sx >= 0 && sx < w)
                                    sum += (double)wt[(o * k + ky) * k + kx] * x[((size_t)o * h + sy) * w + sx];
                            }
                        want[((size_t)o * h + y) * w + xx] = (float)sum;
                    }
            for (int wide = 0; wide < 2; wide++) {
                lgms_avx512_allowed = wide;
                got[wide] = malloc(sizeof(float) * n);
                lgms_depthwise(x, ch, 1, h, w, k, 1, wt, b, got[wide]);
                for (size_t i = 0; i < n; i++)
                    cr_assert_leq(fabsf(got[wide][i] - want[i]), 2e-5f, "w %d k %d element %zu", w, k, i);
            }
            lgms_avx512_allowed = 1;
            cr_assert_eq(memcmp(got[0], got[1], sizeof(float) * n), 0, "w %d k %d: the two widths differ", w, k);
            free(wt), free(b), free(x), free(want), free(got[0]), free(got[1]);
        }
}

Test(ops3d, depthwise_cubes_match_the_dense_reference) {
    /* k 3-9 on 6 x 7 x 9; k 9 on rows of 200 too wide for the padded-row ring (they read
     * padded copies block by block) */
    static const int cases[][4] = {{3, 6, 7, 9}, {5, 6, 7, 9}, {7, 6, 7, 9}, {9, 6, 7, 9}, {9, 3, 4, 200}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int k = cases[ci][0], d = cases[ci][1], h = cases[ci][2], w = cases[ci][3], ch = 3;
        float *wt = random_floats((size_t)ch * k * k * k, 20 + k), *b = random_floats((size_t)ch, 30 + k);
        float *x = random_floats((size_t)ch * d * h * w, 40 + k);
        float *got = malloc(sizeof(float) * ch * d * h * w), *want = malloc(sizeof(float) * ch * d * h * w);
        lgms_depthwise(x, ch, d, h, w, k, k, wt, b, got);
        lgms_conv c = {.cin = ch, .cout = ch, .k = k, .kd = k, .groups = ch, .weight = wt, .bias = b};
        conv3_ref(&c, x, d, h, w, want); /* a grouped conv with one channel per group */
        for (int i = 0; i < ch * d * h * w; i++)
            cr_assert_leq(fabsf(got[i] - want[i]), 2e-5f, "k %d element %d", k, i);
        free(wt), free(b), free(x), free(got), free(want);
    }
}

/* PyTorch's half-pixel trilinear rule: source (o + 0.5) / 2 - 0.5 per axis, clamped at 0. */
static float tri_ref(const float *v, int d, int h, int w, int oz, int oy, int ox) {
    double sz = (oz + 0.5) / 2 - 0.5, sy = (oy + 0.5) / 2 - 0.5, sx = (ox + 0.5) / 2 - 0.5;
    sz = sz < 0 ? 0 : sz, sy = sy < 0 ? 0 : sy, sx = sx < 0 ? 0 : sx;
    int z0 = (int)sz, y0 = (int)sy, x0 = (int)sx;
    int z1 = z0 + 1 < d ? z0 + 1 : d - 1, y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    double fz = sz - z0, fy = sy - y0, fx = sx - x0, s = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                s += (a ? fz : 1 - fz) * (b ? fy : 1 - fy) * (c ? fx : 1 - fx) *
                     v[((size_t)(a ? z1 : z0) * h + (b ? y1 : y0)) * w + (c ? x1 : x0)];
    return (float)s;
}

Test(ops3d, trilinear_upsample_and_2x2x2_maxpool) {
    int d = 3, h = 4, w = 5, ch = 2;
    float *x = random_floats((size_t)ch * d * h * w, 50);
    float *up = malloc(sizeof(float) * ch * 8 * d * h * w);
    lgms_upsample2x(x, ch, d, h, w, up);
    for (int c = 0; c < ch; c++)
        for (int z = 0; z < 2 * d; z++)
            for (int y = 0; y < 2 * h; y++)
                for (int xx = 0; xx < 2 * w; xx++) {
                    float want = tri_ref(x + (size_t)c * d * h * w, d, h, w, z, y, xx);
                    float got = up[(((size_t)c * 2 * d + z) * 2 * h + y) * 2 * w + xx];
                    cr_assert_leq(fabsf(got - want), 1e-6f, "(%d,%d,%d,%d)", c, z, y, xx);
                }
    /* pooling the 2x upsampled tensor: each 2x2x2 block's maximum */
    float *pool = malloc(sizeof(float) * ch * d * h * w);
    lgms_maxpool2x(up, ch, 2 * d, 2 * h, 2 * w, pool);
    for (int c = 0; c < ch; c++)
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    float m = -INFINITY;
                    for (int k = 0; k < 8; k++) {
                        float v = up[(((size_t)c * 2 * d + 2 * z + k / 4) * 2 * h + 2 * y + (k / 2) % 2) * 2 * w +
                                     2 * xx + k % 2];
                        m = v > m ? v : m;
                    }
                    cr_assert_eq(pool[(((size_t)c * d + z) * h + y) * w + xx], m);
                }
    free(x), free(up), free(pool);
}

/* A 2-D Up on the input grid (upconv.c) against the plain form: bilinear x2 by PyTorch's rule
 * (tri_ref with one slice), then conv_ref in double. Shapes take each path of the phase
 * convolution (Winograd, direct, im2col) and the corner cases of the sides: one input row or
 * column (its first and last at once), odd sizes, threads 1-3. */
Test(ops, up_on_the_input_grid_matches_upsample_then_convolve) {
    struct {
        int cin, cout, h, w, post;
    } cases[] = {
        {32, 16, 16, 16, 0}, /* phases 32 -> 64 through Winograd, as LGMSNet's Up2 */
        {64, 32, 8, 12, 1},  /* Up3's channels, post-affine */
        {8, 8, 6, 16, 0},    /* phases 8 -> 32 through the direct kernel (16 columns) */
        {8, 4, 5, 7, 0},     /* odd sides: im2col */
        {16, 8, 1, 6, 0},    /* one input row: top and bottom sides meet */
        {16, 8, 7, 1, 1},    /* one input column */
        {4, 2, 1, 1, 0},     /* a single pixel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int cin = cases[i].cin, cout = cases[i].cout, h = cases[i].h, w = cases[i].w, oh = 2 * h, ow = 2 * w;
        lgms_up u = {.conv = {.cin = cin, .cout = cout, .k = 3, .groups = 1, .act = LGMS_ACT_RELU}};
        float *wt = random_floats((size_t)cout * cin * 9, 70), *b = random_floats((size_t)cout, 71);
        float *s = random_floats((size_t)cout, 72), *t = random_floats((size_t)cout, 73);
        float *x = random_floats((size_t)cin * h * w, 74);
        u.conv.weight = wt, u.conv.bias = b;
        if (cases[i].post) u.conv.post_scale = s, u.conv.post_shift = t;
        cr_assert(lgms_upconv_layer(&u.conv));
        float *uw = malloc(sizeof(float) * lgms_upconv_weights_size(&u.conv)), *wino = NULL;
        lgms_upconv_build(&u, uw);
        if (lgms_winograd_layer(&u.phases)) {
            wino = malloc(sizeof(float) * lgms_winograd_weights_size(&u.phases));
            cr_assert_eq(lgms_winograd_transform_weights(&u.phases, wino), 0);
            u.phases.wino = wino;
        }
        float *up = malloc(sizeof(float) * cin * oh * ow), *want = malloc(sizeof(float) * cout * oh * ow);
        for (int c = 0; c < cin; c++)
            for (int y = 0; y < oh; y++)
                for (int xx = 0; xx < ow; xx++)
                    up[((size_t)c * oh + y) * ow + xx] = tri_ref(x + (size_t)c * h * w, 1, h, w, 0, y, xx);
        conv_ref(&u.conv, up, oh, ow, want);
        double big = 0; /* F(4x4, 3x3) rounds to a few 1e-6 of the outputs' scale (see the Winograd test) */
        for (size_t k = 0; k < (size_t)cout * oh * ow; k++)
            big = fmax(big, fabs((double)want[k]));
        for (int threads = 1; threads <= 3; threads++) {
            float *phase = malloc(sizeof(float) * 4 * cout * h * w);
            float *corr = malloc(sizeof(float) * 4 * lgms_upconv_side_size(&u, h, w));
            float *scratch = malloc(sizeof(float) * (lgms_par_upconv_scratch(&u, h, w) * threads + 1));
            float *got = malloc(sizeof(float) * cout * oh * ow);
            lgms_threads *team = lgms_threads_new(threads);
            lgms_par_upconv(team, &u, x, h, w, phase, corr, got, scratch);
            lgms_threads_free(team);
            for (int o = 0; o < cout; o++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++) {
                        size_t k = ((size_t)o * oh + y) * ow + xx;
                        cr_assert_leq(fabs((double)got[k] - want[k]), 1e-5 * big,
                                      "case %zu, %d thread(s), channel %d, row %d, column %d: %g, want %g", i, threads,
                                      o, y, xx, got[k], want[k]);
                    }
            free(phase), free(corr), free(scratch), free(got);
        }
        free(wt), free(b), free(s), free(t), free(x), free(uw), free(wino), free(up), free(want);
    }
    lgms_conv c = {.cin = 128, .cout = 64, .k = 3, .groups = 1};
    cr_assert_not(lgms_upconv_layer(&c), "64 outputs: 4x the filters for a small plane");
    c.cout = 16, c.kd = 3;
    cr_assert_not(lgms_upconv_layer(&c), "3-D: trilinear, run as is");
}

Test(ops3d, instance_norm_is_group_norm_with_one_channel_per_group) {
    int ch = 3;
    size_t n = 4 * 5 * 6;
    float *x = random_floats(ch * n, 60);
    for (size_t i = 0; i < n; i++)
        x[n + i] = x[n + i] * 7.0f + 3.0f; /* a channel far from zero mean, unit variance */
    float *y = malloc(sizeof(float) * ch * n);
    memcpy(y, x, sizeof(float) * ch * n);
    lgms_group_norm(y, ch, n, ch, NULL, NULL, LGMS_ACT_NONE);
    for (int c = 0; c < ch; c++) {
        double mu = 0, var = 0;
        for (size_t i = 0; i < n; i++)
            mu += x[c * n + i];
        mu /= n;
        for (size_t i = 0; i < n; i++)
            var += (x[c * n + i] - mu) * (x[c * n + i] - mu);
        var /= n; /* biased */
        for (size_t i = 0; i < n; i++)
            cr_assert_leq(fabs(y[c * n + i] - (x[c * n + i] - mu) / sqrt(var + 1e-5)), 1e-5);
    }
    free(x), free(y);
}
