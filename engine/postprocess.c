/* postprocess.c - from the network's logits to labels: a 2-D label map at the image's own
 * size (logits resized bilinearly, then threshold or argmax), and the voxel-wise argmax of
 * a 3-D grid. One rule for both: a one-output head is foreground where sigmoid(z) >
 * threshold, several outputs take the largest logit (ties: the lowest class). */
#include <math.h>
#include <stdlib.h>

#include "lgms.h"

int lgms_label_count(const lgms_meta *meta) { return meta->num_classes == 1 ? 2 : meta->num_classes; }

/* sigmoid(z) > t  <=>  z > log(t / (1 - t)) */
static float logit_of(float threshold) { return logf(threshold / (1.0f - threshold)); }

/* Foreground probability of one pixel from its (interpolated) logits. */
static float foreground_probability(const float *v, int nc) {
    if (nc == 1) return 1.0f / (1.0f + expf(-v[0]));
    float mx = v[0];
    for (int c = 1; c < nc; c++)
        mx = v[c] > mx ? v[c] : mx;
    float sum = 0, bg = expf(v[0] - mx);
    for (int c = 0; c < nc; c++)
        sum += expf(v[c] - mx);
    return 1.0f - bg / sum;
}

/* Source row r of every class, linearly resampled along x to out_w columns: dst[c][x]. */
static void resample_row(const float *logits, size_t lplane, int lw, int r, int nc, const int *x0, const float *wx,
                         int out_w, float *dst) {
    for (int c = 0; c < nc; c++) {
        const float *p = logits + c * lplane + (size_t)r * lw;
        float *d = dst + (size_t)c * out_w;
        for (int x = 0; x < out_w; x++) {
            int a = x0[2 * x], b = x0[2 * x + 1];
            d[x] = p[a] + (p[b] - p[a]) * wx[x];
        }
    }
}

lgms_status lgms_postprocess(const lgms_meta *meta, const float *logits, int lw, int lh, float threshold,
                             uint8_t *labels, uint8_t *prob, int out_w, int out_h) {
    return lgms_postprocess_rows(meta, logits, lw, lh, threshold, labels, prob, out_w, out_h, 0, out_h);
}

lgms_status lgms_postprocess_rows(const lgms_meta *meta, const float *logits, int lw, int lh, float threshold,
                                  uint8_t *labels, uint8_t *prob, int out_w, int out_h, int y0, int y1) {
    if (lw < 1 || lh < 1 || out_w < 1 || out_h < 1 || !(threshold > 0.0f && threshold < 1.0f)) return LGMS_ERR_ARG;
    if (y0 < 0 || y1 > out_h || y0 > y1) return LGMS_ERR_ARG;
    int nc = meta->num_classes;
    if (nc < 1 || nc > LGMS_MAX_CLASSES) return LGMS_ERR_ARG;
    int *x0 = malloc(sizeof(int) * (size_t)out_w * 2);
    float *wx = malloc(sizeof(float) * (size_t)out_w), *rows = malloc(sizeof(float) * 2 * (size_t)nc * out_w);
    if (!x0 || !wx || !rows) {
        free(x0), free(wx), free(rows);
        return LGMS_ERR_NOMEM;
    }
    double sx = (double)lw / out_w, sy = (double)lh / out_h;
    for (int x = 0; x < out_w; x++) {
        float f = (float)((x + 0.5) * sx - 0.5);
        f = f < 0 ? 0 : f;
        int i = (int)f;
        if (i >= lw - 1) i = lw - 1, f = (float)i;
        x0[2 * x] = i;
        x0[2 * x + 1] = i + 1 < lw ? i + 1 : lw - 1;
        wx[x] = f - (float)i;
    }
    float zt = logit_of(threshold);
    size_t lplane = (size_t)lw * lh;
    /* the source rows above and below, resampled along x ([class][x]); each source row is
     * resampled once and serves the output rows between its neighbours */
    float *top = rows, *bot = rows + (size_t)nc * out_w;
    int top_row = -1, bot_row = -1;
    for (int y = y0; y < y1; y++) {
        float f = (float)((y + 0.5) * sy - 0.5);
        f = f < 0 ? 0 : f;
        int j = (int)f;
        if (j >= lh - 1) j = lh - 1, f = (float)j;
        int j1 = j + 1 < lh ? j + 1 : lh - 1;
        float wy = f - (float)j;
        if (j != top_row) {
            if (j == bot_row) {
                float *t = top;
                top = bot, bot = t, top_row = bot_row, bot_row = -1;
            } else {
                resample_row(logits, lplane, lw, j, nc, x0, wx, out_w, top);
                top_row = j;
            }
        }
        if (j1 != bot_row) {
            resample_row(logits, lplane, lw, j1, nc, x0, wx, out_w, bot);
            bot_row = j1;
        }
        uint8_t *row = labels + (size_t)y * out_w;
        if (nc == 1 && !prob) {
            for (int x = 0; x < out_w; x++)
                row[x] = (uint8_t)(top[x] + (bot[x] - top[x]) * wy > zt);
            continue;
        }
        for (int x = 0; x < out_w; x++) {
            float v[LGMS_MAX_CLASSES];
            int arg = 0;
            v[0] = 0.0f; /* nc >= 1 always; this keeps the compiler's flow analysis quiet */
            for (int c = 0; c < nc; c++) {
                float t = top[(size_t)c * out_w + x], b = bot[(size_t)c * out_w + x];
                v[c] = t + (b - t) * wy;
                if (v[c] > v[arg]) arg = c;
            }
            row[x] = nc == 1 ? (uint8_t)(v[0] > zt) : (uint8_t)arg;
            if (prob) prob[(size_t)y * out_w + x] = (uint8_t)lrintf(255.0f * foreground_probability(v, nc));
        }
    }
    free(x0), free(wx), free(rows);
    return LGMS_OK;
}

lgms_status lgms_argmax_planes(const float *logits, int k, size_t n, float threshold, uint8_t *labels) {
    if (k < 1 || k > LGMS_MAX_CLASSES || !(threshold > 0.0f && threshold < 1.0f)) return LGMS_ERR_ARG;
    if (k == 1) {
        float zt = logit_of(threshold);
        for (size_t i = 0; i < n; i++)
            labels[i] = (uint8_t)(logits[i] > zt);
        return LGMS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            if (logits[(size_t)c * n + i] > logits[(size_t)best * n + i]) best = c;
        labels[i] = (uint8_t)best;
    }
    return LGMS_OK;
}
