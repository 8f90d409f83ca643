/* test_preprocess.c - resize and normalisation rules, and postprocessing to a label map. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
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

/* The label of output pixel (x, y) straight from the definition: bilinear (half-pixel
 * centres, clamped) along x on the two source rows, then along y; threshold or argmax. */
static int label_ref(const float *logits, int nc, int lw, int lh, int ow, int oh, float zt, int x, int y) {
    double sx = (double)lw / ow, sy = (double)lh / oh;
    float fx = (float)((x + 0.5) * sx - 0.5), fy = (float)((y + 0.5) * sy - 0.5);
    fx = fx < 0 ? 0 : fx, fy = fy < 0 ? 0 : fy;
    int a = (int)fx, j = (int)fy;
    if (a >= lw - 1) a = lw - 1, fx = (float)a;
    if (j >= lh - 1) j = lh - 1, fy = (float)j;
    int b = a + 1 < lw ? a + 1 : lw - 1, j1 = j + 1 < lh ? j + 1 : lh - 1, arg = 0;
    float wx = fx - (float)a, wy = fy - (float)j, best = 0.0f;
    for (int c = 0; c < nc; c++) {
        const float *r0 = logits + ((size_t)c * lh + j) * lw, *r1 = logits + ((size_t)c * lh + j1) * lw;
        float top = r0[a] + (r0[b] - r0[a]) * wx, bot = r1[a] + (r1[b] - r1[a]) * wx, v = top + (bot - top) * wy;
        if (c == 0 || v > best) best = v, arg = c;
        if (nc == 1) return v > zt;
    }
    return arg;
}

Test(postprocess, labels_match_the_definition_pixel_for_pixel) {
    struct {
        int nc, lw, lh, ow, oh, with_prob;
    } cases[] = {{1, 32, 24, 97, 61, 0}, {1, 32, 24, 97, 61, 1}, {3, 16, 16, 40, 7, 1}, {1, 64, 64, 30, 50, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lgms_meta m = meta_1class();
        m.num_classes = cases[k].nc;
        int lw = cases[k].lw, lh = cases[k].lh, ow = cases[k].ow, oh = cases[k].oh;
        size_t nl = (size_t)cases[k].nc * lw * lh;
        float *logits = malloc(sizeof(float) * nl);
        for (size_t i = 0; i < nl; i++)
            logits[i] = (float)((i * 2654435761u) >> 20) / 2048.0f - 1.0f;
        uint8_t *labels = malloc((size_t)ow * oh), *prob = cases[k].with_prob ? malloc((size_t)ow * oh) : NULL;
        cr_assert_eq(lgms_postprocess(&m, logits, lw, lh, 0.4f, labels, prob, ow, oh), LGMS_OK);
        float zt = logf(0.4f / 0.6f);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                cr_assert_eq(labels[(size_t)y * ow + x], label_ref(logits, cases[k].nc, lw, lh, ow, oh, zt, x, y),
                             "case %zu, pixel (%d, %d)", k, x, y);
        free(logits), free(labels), free(prob);
    }
}

/* Bands of rows (as the server's threads run them) make the whole-image results, bit for
 * bit: the tensor and resized pixels for every filter, and labels, probabilities. */
Test(preprocess, row_bands_make_the_whole_tensor_and_label_map) {
    const lgms_resize_filter filters[] = {LGMS_RESIZE_BILINEAR, LGMS_RESIZE_LANCZOS4, LGMS_RESIZE_NEAREST};
    int sw = 75, sh = 53;
    uint8_t *src = malloc((size_t)sw * sh * 3);
    for (size_t i = 0; i < (size_t)sw * sh * 3; i++)
        src[i] = (uint8_t)((i * 2654435761u) >> 24);
    for (int f = 0; f < 3; f++)
        for (int sz = 0; sz < 2; sz++) { /* resized, and at the input size already */
            lgms_meta m = meta_1class();
            m.resize = filters[f];
            m.input_width = sz ? sw : 32, m.input_height = sz ? sh : 64;
            size_t plane = (size_t)m.input_width * m.input_height;
            lgms_image_u8 img = {src, sw, sh, 3};
            uint8_t *s1 = malloc(plane * 3), *s2 = malloc(plane * 3);
            float *t1 = malloc(sizeof(float) * plane * 3), *t2 = malloc(sizeof(float) * plane * 3);
            cr_assert_eq(lgms_preprocess(&m, &img, s1, t1), LGMS_OK);
            int cuts[] = {0, 1, 17, 40, m.input_height};
            for (int b = 0; b < 4; b++)
                cr_assert_eq(lgms_preprocess_rows(&m, &img, cuts[b], cuts[b + 1], s2, t2), LGMS_OK);
            cr_assert_eq(memcmp(s1, s2, plane * 3), 0, "filter %d: resized pixels", f);
            cr_assert_eq(memcmp(t1, t2, sizeof(float) * plane * 3), 0, "filter %d: tensor", f);
            free(s1), free(s2), free(t1), free(t2);
        }
    free(src);
    for (int nc = 1; nc <= 3; nc += 2) {
        lgms_meta m = meta_1class();
        m.num_classes = nc;
        int lw = 32, lh = 24, ow = 97, oh = 61;
        float *logits = malloc(sizeof(float) * nc * lw * lh);
        for (int i = 0; i < nc * lw * lh; i++)
            logits[i] = (float)((i * 2654435761u) >> 20) / 2048.0f - 1.0f;
        uint8_t *l1 = malloc((size_t)ow * oh), *l2 = malloc((size_t)ow * oh);
        uint8_t *p1 = malloc((size_t)ow * oh), *p2 = malloc((size_t)ow * oh);
        cr_assert_eq(lgms_postprocess(&m, logits, lw, lh, 0.4f, l1, p1, ow, oh), LGMS_OK);
        int cuts[] = {0, 5, 6, 33, oh};
        for (int b = 0; b < 4; b++)
            cr_assert_eq(lgms_postprocess_rows(&m, logits, lw, lh, 0.4f, l2, p2, ow, oh, cuts[b], cuts[b + 1]),
                         LGMS_OK);
        cr_assert_eq(memcmp(l1, l2, (size_t)ow * oh), 0, "%d classes: labels", nc);
        cr_assert_eq(memcmp(p1, p2, (size_t)ow * oh), 0, "%d classes: probabilities", nc);
        free(logits), free(l1), free(l2), free(p1), free(p2);
    }
}
