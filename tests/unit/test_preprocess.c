/* test_preprocess.c - resize and normalisation rules, and postprocessing to a label map. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "../../engine/lgms.h"

static lgms_meta meta_1class(void) {
    lgms_meta m;
    memset(&m, 0, sizeof m);
    m.in_channels = 3, m.num_classes = 1, m.input_width = 4, m.input_height = 2;
    m.mean[0] = 0.5f, m.mean[1] = 0.25f, m.mean[2] = 0.0f;
    m.std[0] = m.std[1] = m.std[2] = 0.5f;
    m.extra_scale = 1.0f;
    m.threshold = 0.5f;
    return m;
}

Test(preprocess, same_size_is_identity_and_bgr_swaps) {
    lgms_meta m = meta_1class();
    m.channel_order = LGMS_ORDER_BGR;
    uint8_t px[2 * 4 * 3], scratch[2 * 4 * 3];
    for (int i = 0; i < 8; i++)
        px[i * 3] = 255, px[i * 3 + 1] = 0, px[i * 3 + 2] = 51; /* R G B */
    lgms_image_u8 img = {px, 4, 2, 3};
    float t[3 * 8];
    cr_assert_eq(lgms_preprocess(&m, &img, scratch, t), LGMS_OK);
    /* channel 0 is blue (51): (51/255 - 0.5)/0.5 = -0.6 */
    cr_assert_float_eq(t[0], -0.6f, 1e-6);
    cr_assert_float_eq(t[8], -0.5f, 1e-6); /* green 0 with mean 0.25 */
    cr_assert_float_eq(t[16], 2.0f, 1e-6); /* red 255 with mean 0 */
}

Test(preprocess, grey_is_replicated_and_extra_scale_applies) {
    lgms_meta m = meta_1class();
    m.extra_scale = 1.0f / 255;
    uint8_t px[8], scratch[24];
    memset(px, 255, sizeof px);
    lgms_image_u8 img = {px, 4, 2, 1};
    float t[24];
    cr_assert_eq(lgms_preprocess(&m, &img, scratch, t), LGMS_OK);
    cr_assert_float_eq(t[0], 1.0f / 255, 1e-9);
    cr_assert_float_eq(t[8], 1.5f / 255, 1e-9);
}

Test(preprocess, bilinear_downscale_by_two_averages) {
    uint8_t src[4 * 4] = {0, 10, 20, 30, 0, 10, 20, 30, 100, 100, 50, 50, 100, 100, 50, 50};
    uint8_t dst[4];
    lgms_image_u8 img = {src, 4, 4, 1};
    cr_assert_eq(lgms_resize_u8(&img, dst, 2, 2, LGMS_RESIZE_BILINEAR), LGMS_OK);
    cr_assert_eq(dst[0], 5);
    cr_assert_eq(dst[1], 25);
    cr_assert_eq(dst[2], 100);
    cr_assert_eq(dst[3], 50);
}

Test(preprocess, constant_image_stays_constant_under_every_filter) {
    uint8_t src[37 * 23 * 3], dst[64 * 48 * 3];
    memset(src, 77, sizeof src);
    lgms_image_u8 img = {src, 37, 23, 3};
    lgms_resize_filter f[] = {LGMS_RESIZE_BILINEAR, LGMS_RESIZE_LANCZOS4, LGMS_RESIZE_NEAREST};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(lgms_resize_u8(&img, dst, 64, 48, f[k]), LGMS_OK);
        for (size_t i = 0; i < sizeof dst; i++)
            cr_assert_eq(dst[i], 77, "filter %d pixel %zu", k, i);
    }
}

Test(postprocess, threshold_is_strict_and_resizes) {
    lgms_meta m = meta_1class();
    float logits[4] = {-1.0f, 0.0f, 0.5f, 3.0f}; /* 2x2 */
    uint8_t labels[16], prob[16];
    cr_assert_eq(lgms_postprocess(&m, logits, 2, 2, 0.5f, labels, prob, 2, 2), LGMS_OK);
    cr_assert_eq(labels[0], 0);
    cr_assert_eq(labels[1], 0); /* sigmoid(0) = 0.5 is not > 0.5 */
    cr_assert_eq(labels[2], 1);
    cr_assert_eq(labels[3], 1);
    cr_assert_eq(prob[1], 128);
    cr_assert_eq(lgms_postprocess(&m, logits, 2, 2, 0.9f, labels, NULL, 2, 2), LGMS_OK);
    cr_assert_eq(labels[2], 0); /* sigmoid(0.5) = 0.62 < 0.9 */
    cr_assert_eq(labels[3], 1); /* sigmoid(3) = 0.95 */
    cr_assert_eq(lgms_postprocess(&m, logits, 2, 2, 0.5f, labels, NULL, 4, 4), LGMS_OK);
    cr_assert_eq(labels[0], 0);
    cr_assert_eq(labels[15], 1);
}

Test(postprocess, argmax_for_several_classes) {
    lgms_meta m = meta_1class();
    m.num_classes = 3;
    /* 1x2 image: pixel 0 -> class 2, pixel 1 -> class 0 */
    float logits[6] = {0.0f, 5.0f, 1.0f, 0.0f, 2.0f, -1.0f};
    uint8_t labels[2], prob[2];
    cr_assert_eq(lgms_postprocess(&m, logits, 2, 1, 0.5f, labels, prob, 2, 1), LGMS_OK);
    cr_assert_eq(labels[0], 2);
    cr_assert_eq(labels[1], 0);
    cr_assert(prob[0] > 200 && prob[1] < 10);
}
