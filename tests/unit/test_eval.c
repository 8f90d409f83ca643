/* test_eval.c - IoU, Dice, precision, recall and HD95 on hand-made masks with known answers. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../cli/evalmetrics.h"

Test(eval, overlap_known_answers) {
    /* 10x10; truth: 4x4 square at (2,2); prediction: same square shifted right by 2 */
    uint8_t t[100] = {0}, p[100] = {0};
    for (int y = 2; y < 6; y++)
        for (int x = 2; x < 6; x++)
            t[y * 10 + x] = 1, p[y * 10 + x + 2] = 1;
    lgmsd_seg_scores s;
    lgmsd_score_class(p, t, 10, 10, 1, 1, &s);
    cr_assert_eq(s.tp, 8);
    cr_assert_eq(s.fp, 8);
    cr_assert_eq(s.fn, 8);
    cr_assert_float_eq(s.iou, 8.0 / 24.0, 1e-12);
    cr_assert_float_eq(s.dice, 16.0 / 32.0, 1e-12);
    cr_assert_float_eq(s.precision, 0.5, 1e-12);
    cr_assert_float_eq(s.recall, 0.5, 1e-12);
    /* every boundary pixel of one square is at most 2 px from the other's boundary */
    cr_assert(s.hd95 > 0 && s.hd95 <= 2.0 + 1e-9, "hd95 %f", s.hd95);
}

Test(eval, perfect_and_empty_cases) {
    uint8_t a[16] = {0, 1, 1, 0, 0, 1, 1, 0}, empty[16] = {0};
    lgmsd_seg_scores s;
    lgmsd_score_class(a, a, 4, 4, 1, 1, &s);
    cr_assert_float_eq(s.dice, 1.0, 1e-12);
    cr_assert_float_eq(s.iou, 1.0, 1e-12);
    cr_assert_float_eq(s.hd95, 0.0, 1e-12);
    lgmsd_score_class(empty, empty, 4, 4, 1, 1, &s);
    cr_assert_float_eq(s.dice, 1.0, 1e-12); /* nothing to find, nothing found */
    cr_assert(s.hd95 < 0);
    lgmsd_score_class(a, empty, 4, 4, 1, 1, &s); /* false alarm on an empty image */
    cr_assert_float_eq(s.dice, 0.0, 1e-12);
    cr_assert_float_eq(s.precision, 0.0, 1e-12);
    cr_assert_float_eq(s.recall, 0.0, 1e-12);
}

Test(eval, multiclass_ids) {
    uint8_t t[6] = {0, 1, 1, 2, 2, 2}, p[6] = {0, 1, 2, 2, 2, 0};
    lgmsd_seg_scores s;
    lgmsd_score_class(p, t, 6, 1, 2, 0, &s);
    cr_assert_eq(s.tp, 2);
    cr_assert_eq(s.fp, 1);
    cr_assert_eq(s.fn, 1);
    cr_assert_float_eq(s.dice, 4.0 / 6.0, 1e-12);
}

Test(eval, hd95_single_far_outlier) {
    /* truth: one pixel at (0,0); prediction: (0,0) and (0,30): the pooled distances are
     * {0 (pred 0,0), 30 (pred 0,30), 0 (truth 0,0)} -> 95th percentile = 27 by interpolation */
    uint8_t t[40] = {0}, p[40] = {0};
    t[0] = 1, p[0] = 1, p[30] = 1;
    lgmsd_seg_scores s;
    lgmsd_score_class(p, t, 40, 1, 1, 1, &s);
    cr_assert_float_eq(s.hd95, 27.0, 1e-9, "hd95 %f", s.hd95);
}
