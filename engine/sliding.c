/* sliding.c - CT intensity window, resampling and sliding-window inference with blending. */
#include "sliding.h"

#include <limits.h>
#include <math.h>
#include <string.h>

void lgms_intensity_window(float *v, size_t n, float a_min, float a_max) {
    float scale = 1.0f / (a_max - a_min);
    for (size_t i = 0; i < n; i++) {
        float x = (v[i] - a_min) * scale;
        v[i] = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
    }
}

int lgms_resampled_size(int n, double s_in, double s_out) {
    double v = floor(n * s_in / s_out + 0.5);
    if (!(v <= INT_MAX)) return -1; /* too large, or NaN from a bad spacing */
    return v < 1 ? 1 : (int)v;
}

/* Source index pair and weight of the second for output index o of an axis n -> on. */
static void linear_tap(int o, int n, int on, int *i0, int *i1, float *f) {
    double x = (o + 0.5) * (double)n / on - 0.5;
    if (x < 0) x = 0;
    if (x > n - 1) x = n - 1;
    *i0 = (int)x;
    *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
    *f = (float)(x - *i0);
}

void lgms_resample_linear(const float *in, int c, int d, int h, int w, float *out, int od, int oh, int ow) {
    for (int ch = 0; ch < c; ch++) {
        const float *src = in + (size_t)ch * d * h * w;
        float *dst = out + (size_t)ch * od * oh * ow;
        for (int z = 0; z < od; z++) {
            int z0, z1;
            float fz;
            linear_tap(z, d, od, &z0, &z1, &fz);
            for (int y = 0; y < oh; y++) {
                int y0, y1;
                float fy;
                linear_tap(y, h, oh, &y0, &y1, &fy);
                const float *r00 = src + ((size_t)z0 * h + y0) * w, *r01 = src + ((size_t)z0 * h + y1) * w;
                const float *r10 = src + ((size_t)z1 * h + y0) * w, *r11 = src + ((size_t)z1 * h + y1) * w;
                float *o = dst + ((size_t)z * oh + y) * ow;
                for (int x = 0; x < ow; x++) {
                    int x0, x1;
                    float fx;
                    linear_tap(x, w, ow, &x0, &x1, &fx);
                    float a = r00[x0] + fx * (r00[x1] - r00[x0]), b = r01[x0] + fx * (r01[x1] - r01[x0]);
                    float e = r10[x0] + fx * (r10[x1] - r10[x0]), g = r11[x0] + fx * (r11[x1] - r11[x0]);
                    float p = a + fy * (b - a), q = e + fy * (g - e);
                    o[x] = p + fz * (q - p);
                }
            }
        }
    }
}

static int nearest_tap(int o, int n, int on) {
    int i = (int)floor((o + 0.5) * (double)n / on);
    return i < n ? i : n - 1;
}

void lgms_resample_nearest(const uint8_t *in, int d, int h, int w, uint8_t *out, int od, int oh, int ow) {
    for (int z = 0; z < od; z++) {
        int sz = nearest_tap(z, d, od);
        for (int y = 0; y < oh; y++) {
            const uint8_t *row = in + ((size_t)sz * h + nearest_tap(y, h, oh)) * w;
            uint8_t *o = out + ((size_t)z * oh + y) * ow;
            for (int x = 0; x < ow; x++)
                o[x] = row[nearest_tap(x, w, ow)];
        }
    }
}

int lgms_window_starts(int size, int roi, float overlap, int *starts, int max) {
    if (size <= roi) {
        if (max < 1) return 0;
        starts[0] = 0;
        return 1;
    }
    int stride = (int)((float)roi * (1.0f - overlap));
    if (stride < 1) stride = 1;
    int n = (size - roi + stride - 1) / stride + 1;
    if (n > max) return 0;
    for (int i = 0; i < n; i++)
        starts[i] = i * stride < size - roi ? i * stride : size - roi;
    return n;
}

/* exp(-(i - c)^2 / 2 sigma^2) with sigma = n / 8 and c = (n - 1) / 2, the centre of an
 * n-long axis (between two voxels when n is even). */
static double gaussian_at(int i, int n) {
    double sigma = 0.125 * n, t = (i - (n - 1) / 2.0) / sigma;
    return exp(-0.5 * t * t);
}

/* MONAI's Gaussian importance map (sigma_scale 0.125): the product of the three axis
 * Gaussians, not rescaled (its peak is below 1 on even sides: 0.9974 at 96^3), floored at
 * 1e-3 so the patch corners still count. */
void lgms_blend_weights(int rd, int rh, int rw, int gaussian, float *w) {
    size_t n = (size_t)rd * rh * rw;
    if (!gaussian) {
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0f;
        return;
    }
    for (int z = 0; z < rd; z++)
        for (int y = 0; y < rh; y++) {
            double gzy = gaussian_at(z, rd) * gaussian_at(y, rh);
            for (int x = 0; x < rw; x++) {
                float v = (float)(gzy * gaussian_at(x, rw));
                w[((size_t)z * rh + y) * rw + x] = v < 1e-3f ? 1e-3f : v;
            }
        }
}

static int axis_count(int size, int roi, float overlap) {
    int stride = (int)((float)roi * (1.0f - overlap));
    if (stride < 1) stride = 1;
    return size <= roi ? 1 : (size - roi + stride - 1) / stride + 1;
}

static int axis_start(int size, int roi, float overlap, int i) {
    int stride = (int)((float)roi * (1.0f - overlap));
    if (stride < 1) stride = 1;
    if (size <= roi) return 0;
    return i * stride < size - roi ? i * stride : size - roi;
}

int lgms_sliding_patches(const lgms_sliding_window *sw, int d, int h, int w) {
    return axis_count(d, sw->rd, sw->overlap) * axis_count(h, sw->rh, sw->overlap) * axis_count(w, sw->rw, sw->overlap);
}

size_t lgms_sliding_scratch(const lgms_sliding_window *sw, int d, int h, int w) {
    size_t patch = (size_t)sw->rd * sw->rh * sw->rw;
    return patch * (1 + (size_t)sw->channels + (size_t)sw->classes) + (size_t)d * h * w;
}

int lgms_sliding_run(const lgms_sliding_window *sw, const float *vol, int d, int h, int w, float *out, float *scratch) {
    size_t patch = (size_t)sw->rd * sw->rh * sw->rw, plane = (size_t)d * h * w;
    float *wt = scratch, *pin = wt + patch, *pout = pin + patch * sw->channels, *cnt = pout + patch * sw->classes;
    lgms_blend_weights(sw->rd, sw->rh, sw->rw, sw->gaussian, wt);
    memset(out, 0, sizeof(float) * plane * sw->classes);
    memset(cnt, 0, sizeof(float) * plane);
    int nz = axis_count(d, sw->rd, sw->overlap), ny = axis_count(h, sw->rh, sw->overlap);
    int nx = axis_count(w, sw->rw, sw->overlap), total = nz * ny * nx, done = 0;
    for (int iz = 0; iz < nz; iz++)
        for (int iy = 0; iy < ny; iy++)
            for (int ix = 0; ix < nx; ix++) {
                int z0 = axis_start(d, sw->rd, sw->overlap, iz), y0 = axis_start(h, sw->rh, sw->overlap, iy);
                int x0 = axis_start(w, sw->rw, sw->overlap, ix);
                /* the patch, zeros where it reaches past a volume smaller than it */
                int xn = w - x0 < sw->rw ? w - x0 : sw->rw;
                for (int c = 0; c < sw->channels; c++)
                    for (int pz = 0; pz < sw->rd; pz++)
                        for (int py = 0; py < sw->rh; py++) {
                            float *dst = pin + (((size_t)c * sw->rd + pz) * sw->rh + py) * sw->rw;
                            int vz = z0 + pz, vy = y0 + py;
                            if (vz >= d || vy >= h) {
                                memset(dst, 0, sizeof(float) * sw->rw);
                                continue;
                            }
                            memcpy(dst, vol + (((size_t)c * d + vz) * h + vy) * w + x0, sizeof(float) * xn);
                            if (xn < sw->rw) memset(dst + xn, 0, sizeof(float) * (sw->rw - xn));
                        }
                if (sw->run(sw->ctx, pin, pout)) return -1;
                for (int pz = 0; pz < sw->rd && z0 + pz < d; pz++)
                    for (int py = 0; py < sw->rh && y0 + py < h; py++) {
                        size_t prow = ((size_t)pz * sw->rh + py) * sw->rw,
                               vrow = ((size_t)(z0 + pz) * h + y0 + py) * w + x0;
                        for (int px = 0; px < xn; px++)
                            cnt[vrow + px] += wt[prow + px];
                        for (int k = 0; k < sw->classes; k++) {
                            const float *src = pout + k * patch + prow;
                            float *dst = out + k * plane + vrow;
                            for (int px = 0; px < xn; px++)
                                dst[px] += src[px] * wt[prow + px];
                        }
                    }
                if (sw->progress) sw->progress(sw->ctx, ++done, total);
            }
    for (size_t v = 0; v < plane; v++) {
        float inv = 1.0f / cnt[v];
        for (int k = 0; k < sw->classes; k++)
            out[k * plane + v] *= inv;
    }
    return 0;
}
