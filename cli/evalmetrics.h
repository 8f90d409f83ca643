/* evalmetrics.h - segmentation quality of a predicted label map against ground truth:
 * IoU, Dice, precision, recall and the 95th-percentile Hausdorff distance. */
#ifndef LGMSD_CLI_EVALMETRICS_H
#define LGMSD_CLI_EVALMETRICS_H

#include <stdint.h>

typedef struct {
    uint64_t tp, fp, fn;
    double iou, dice, precision, recall;
    double hd95; /* pixels; negative when undefined (one of the two masks is empty) */
} lgmsd_seg_scores;

/* Binary scores of (pred == cls) against (truth == cls). Empty-vs-empty scores 1. */
void lgmsd_score_class(const uint8_t *pred, const uint8_t *truth, int w, int h, int cls, int with_hd95,
                       lgmsd_seg_scores *out);

#endif
