/* test_volume.c - the CT intensity window and sliding-window inference: patch origins as
 * MONAI places them, exact reconstruction through an identity-like network with constant
 * and Gaussian blending, volumes smaller than a patch, progress and cancellation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/sliding.h"

Test(volume, intensity_window_clips_to_unit_range) {
    float v[] = {-1000, -175, 37.5f, 250, 3000};
    lgms_intensity_window(v, 5, -175, 250);
    float want[] = {0, 0, 0.5f, 1, 1};
    for (int i = 0; i < 5; i++)
        cr_assert_float_eq(v[i], want[i], 1e-6, "%d", i);
}

Test(volume, patch_origins_follow_monai) {
    int s[16];
    int n = lgms_window_starts(200, 96, 0.5f, s, 16); /* stride 48, last flush with the end */
    cr_assert_eq(n, 4);
    int want[] = {0, 48, 96, 104};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(s[i], want[i]);
    cr_assert_eq(lgms_window_starts(96, 96, 0.5f, s, 16), 1);
    cr_assert_eq(lgms_window_starts(50, 96, 0.5f, s, 16), 1, "smaller than a patch: one, padded");
    cr_assert_eq(s[0], 0);
    cr_assert_eq(lgms_window_starts(144, 96, 0.5f, s, 16), 2);
    cr_assert_eq(lgms_window_starts(10, 4, 0.9f, s, 16), 7, "stride floors at 1");
    cr_assert_eq(lgms_window_starts(1000, 4, 0.0f, s, 16), 0, "more than max: refused");
}

/* "Network": class k = (k + 1) x channel 0, counting its calls. */
typedef struct {
    int rd, rh, rw, classes, calls, fail_at, last_done, last_total;
} fake_net;

static int fake_run(void *p, const float *in, float *out) {
    fake_net *f = p;
    if (++f->calls == f->fail_at) return -1;
    size_t n = (size_t)f->rd * f->rh * f->rw;
    for (int k = 0; k < f->classes; k++)
        for (size_t i = 0; i < n; i++)
            out[k * n + i] = in[i] * (float)(k + 1);
    return 0;
}

static void fake_progress(void *p, int done, int total) {
    fake_net *f = p;
    cr_assert_eq(done, f->last_done + 1);
    f->last_done = done, f->last_total = total;
}

static void check_reconstruction(int d, int h, int w, int gaussian) {
    fake_net f = {8, 8, 8, 3, 0, -1, 0, 0};
    lgms_sliding_window sw = {1, 3, 8, 8, 8, 0.5f, gaussian, fake_run, fake_progress, &f};
    size_t plane = (size_t)d * h * w;
    float *vol = malloc(sizeof(float) * plane), *out = malloc(sizeof(float) * plane * 3);
    float *scratch = malloc(sizeof(float) * lgms_sliding_scratch(&sw, d, h, w));
    for (size_t i = 0; i < plane; i++)
        vol[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    cr_assert_eq(lgms_sliding_run(&sw, vol, d, h, w, out, scratch), 0);
    cr_assert_eq(f.calls, lgms_sliding_patches(&sw, d, h, w));
    cr_assert_eq(f.last_total, f.calls);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < plane; i++)
            cr_assert_float_eq(out[k * plane + i], vol[i] * (k + 1), 1e-5, "%dx%dx%d gaussian %d: class %d voxel %zu",
                               d, h, w, gaussian, k, i);
    free(vol), free(out), free(scratch);
}

Test(volume, blending_reconstructs_what_every_patch_agrees_on) {
    check_reconstruction(20, 13, 9, 0);
    check_reconstruction(20, 13, 9, 1);
    check_reconstruction(5, 17, 8, 0); /* depth smaller than the patch */
    check_reconstruction(5, 17, 8, 1);
}

/* Reference values from MONAI's compute_importance_map (mode "gaussian", sigma_scale 0.125)
 * as its source defines it, evaluated with PyTorch in float32. */
Test(volume, gaussian_weights_are_monai_importance_map) {
    float w8[8 * 8 * 8];
    lgms_blend_weights(8, 8, 8, 1, w8);
    cr_assert_float_eq(w8[(4 * 8 + 4) * 8 + 4], 0.687289297580719f, 1e-6, "%g", w8[(4 * 8 + 4) * 8 + 4]);
    cr_assert_float_eq(w8[(4 * 8 + 4) * 8 + 2], 0.252839595079422f, 1e-6, "%g", w8[(4 * 8 + 4) * 8 + 2]);
    cr_assert_float_eq(w8[(3 * 8 + 4) * 8 + 4], 0.687289297580719f, 1e-6, "symmetric about 3.5");
    cr_assert_float_eq(w8[0], 1e-3f, 1e-9, "floored: %g", w8[0]);
    float *w = malloc(sizeof(float) * 96 * 96 * 96);
    lgms_blend_weights(96, 96, 96, 1, w);
#define AT(z, y, x) w[((size_t)(z)*96 + (y)) * 96 + (x)]
    cr_assert_float_eq(AT(48, 48, 48), 0.9973992705345154f, 1e-6, "%g", AT(48, 48, 48));
    cr_assert_float_eq(AT(40, 48, 48), 0.8211507797241211f, 1e-6, "%g", AT(40, 48, 48));
    cr_assert_float_eq(AT(30, 60, 50), 0.19639955461025238f, 1e-6, "%g", AT(30, 60, 50));
    cr_assert_float_eq(AT(0, 48, 48), 1e-3f, 1e-9);
#undef AT
    int above = 0;
    for (size_t i = 0; i < (size_t)96 * 96 * 96; i++)
        above += w[i] > 1e-3f;
    cr_assert_eq(above, 371848, "%d voxels above the floor", above);
    free(w);
}

Test(volume, a_failing_patch_stops_the_run) {
    fake_net f = {8, 8, 8, 1, 0, 3, 0, 0};
    lgms_sliding_window sw = {1, 1, 8, 8, 8, 0.5f, 0, fake_run, NULL, &f};
    float *vol = calloc(20 * 20 * 20, sizeof(float)), *out = malloc(sizeof(float) * 8000);
    float *scratch = malloc(sizeof(float) * lgms_sliding_scratch(&sw, 20, 20, 20));
    cr_assert_eq(lgms_sliding_run(&sw, vol, 20, 20, 20, out, scratch), -1);
    cr_assert_eq(f.calls, 3);
    free(vol), free(out), free(scratch);
}

Test(volume, resampling_keeps_linear_ramps_and_labels) {
    cr_assert_eq(lgms_resampled_size(256, 0.957, 1.5), 163);
    cr_assert_eq(lgms_resampled_size(108, 1.5, 2.0), 81);
    cr_assert_eq(lgms_resampled_size(1, 0.5, 4.0), 1);
    /* a ramp along x is kept exactly where no clamping happens */
    int d = 4, h = 3, w = 10, ow = 20;
    float in[4 * 3 * 10], out[4 * 3 * 20];
    for (int i = 0; i < d * h * w; i++)
        in[i] = (float)(i % w);
    lgms_resample_linear(in, 1, d, h, w, out, d, h, ow);
    for (int x = 1; x < ow - 1; x++)
        cr_assert_float_eq(out[x], (x + 0.5f) * w / ow - 0.5f, 1e-5, "x %d", x);
    cr_assert_float_eq(out[0], 0.0f, 1e-6, "clamped at the edge");
    /* identity size: the same volume */
    lgms_resample_linear(in, 1, d, h, w, out, d, h, w);
    for (int i = 0; i < d * h * w; i++)
        cr_assert_float_eq(out[i], in[i], 1e-6);
    /* labels: nearest, round trip down and up keeps a block's label */
    uint8_t lab[8 * 8 * 8], small[4 * 4 * 4], back[8 * 8 * 8];
    for (int i = 0; i < 512; i++)
        lab[i] = (uint8_t)((i / 64 >= 4) * 2 + ((i % 8) >= 4));
    lgms_resample_nearest(lab, 8, 8, 8, small, 4, 4, 4);
    lgms_resample_nearest(small, 4, 4, 4, back, 8, 8, 8);
    cr_assert_eq(memcmp(lab, back, 512), 0);
}
