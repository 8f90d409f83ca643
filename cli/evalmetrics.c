/* evalmetrics.c - overlap scores and HD95 via an exact Euclidean distance transform
 * (separable lower-envelope algorithm, linear in the pixel count). */
#include "evalmetrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIG 1e20

/* 1-D squared distance transform of f (length n) into d: the lower envelope of the
 * parabolas (x - q)^2 + f[q]; v and z are scratch of n and n + 1 entries. */
static void edt_1d(const double *f, int n, double *d, int *v, double *z) {
    int k = 0;
    v[0] = 0, z[0] = -INFINITY, z[1] = INFINITY;
    for (int q = 1; q < n; q++) {
        double s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        while (s <= z[k]) {
            k--;
            s = ((f[q] + (double)q * q) - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        }
        k++;
        v[k] = q, z[k] = s, z[k + 1] = INFINITY;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q)
            k++;
        double dq = q - v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

/* Squared distance from every pixel to the nearest set pixel of seeds. */
static int edt_2d(const uint8_t *seeds, int w, int h, double *out) {
    if (w < 1 || h < 1) return -1;
    int n = w > h ? w : h;
    double *f = calloc((size_t)n, sizeof(double)), *d = malloc(sizeof(double) * n),
           *z = malloc(sizeof(double) * (n + 1));
    int *v = malloc(sizeof(int) * n);
    if (!f || !d || !z || !v) {
        free(f), free(d), free(z), free(v);
        return -1;
    }
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++)
            f[y] = seeds[(size_t)y * w + x] ? 0 : BIG;
        edt_1d(f, h, d, v, z);
        for (int y = 0; y < h; y++)
            out[(size_t)y * w + x] = d[y];
    }
    for (int y = 0; y < h; y++) {
        memcpy(f, out + (size_t)y * w, sizeof(double) * w);
        edt_1d(f, w, d, v, z);
        memcpy(out + (size_t)y * w, d, sizeof(double) * w);
    }
    free(f), free(d), free(z), free(v);
    return 0;
}

/* Boundary of a binary mask: set pixels with a 4-neighbour outside the mask or image. */
static void boundary(const uint8_t *m, int w, int h, uint8_t *b) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            b[i] = m[i] &&
                   (x == 0 || y == 0 || x == w - 1 || y == h - 1 || !m[i - 1] || !m[i + 1] || !m[i - w] || !m[i + w]);
        }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile 95 of the distances between the two boundaries, both directions pooled. */
static double hd95(const uint8_t *a, const uint8_t *b, int w, int h) {
    size_t n = (size_t)w * h;
    uint8_t *ba = malloc(n), *bb = malloc(n);
    double *da = malloc(sizeof(double) * n), *db = malloc(sizeof(double) * n), *all = NULL;
    double result = -1;
    if (!ba || !bb || !da || !db) goto out;
    boundary(a, w, h, ba);
    boundary(b, w, h, bb);
    if (edt_2d(ba, w, h, da) || edt_2d(bb, w, h, db)) goto out;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ba[i] + bb[i];
    all = malloc(sizeof(double) * (count ? count : 1));
    if (!all || !count) goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ba[i]) all[k++] = sqrt(db[i]);
        if (bb[i]) all[k++] = sqrt(da[i]);
    }
    qsort(all, count, sizeof(double), cmp_double);
    double pos = 0.95 * (double)(count - 1); /* linear interpolation, as numpy.percentile */
    size_t lo = (size_t)pos;
    double frac = pos - (double)lo;
    result = lo + 1 < count ? all[lo] + (all[lo + 1] - all[lo]) * frac : all[lo];
out:
    free(ba), free(bb), free(da), free(db), free(all);
    return result;
}

void lgmsd_score_class(const uint8_t *pred, const uint8_t *truth, int w, int h, int cls, int with_hd95,
                       lgmsd_seg_scores *out) {
    size_t n = (size_t)w * h;
    uint64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        int p = pred[i] == cls, t = truth[i] == cls;
        tp += p && t, fp += p && !t, fn += !p && t;
    }
    out->tp = tp, out->fp = fp, out->fn = fn;
    out->iou = tp + fp + fn ? (double)tp / (double)(tp + fp + fn) : 1.0;
    out->dice = tp + fp + fn ? 2.0 * tp / (double)(2 * tp + fp + fn) : 1.0;
    out->precision = tp + fp ? (double)tp / (double)(tp + fp) : (fn ? 0.0 : 1.0);
    out->recall = tp + fn ? (double)tp / (double)(tp + fn) : (fp ? 0.0 : 1.0);
    out->hd95 = -1;
    if (with_hd95 && tp + fp && tp + fn) {
        uint8_t *a = malloc(n), *b = malloc(n);
        if (a && b) {
            for (size_t i = 0; i < n; i++)
                a[i] = pred[i] == cls, b[i] = truth[i] == cls;
            out->hd95 = hd95(a, b, w, h);
        }
        free(a), free(b);
    }
}
