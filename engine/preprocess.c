/* preprocess.c - from decoded 8-bit pixels to the network's input tensor.
 *
 * The resize reproduces OpenCV's cv2.resize on 8-bit images (what the official training
 * pipelines used): half-pixel centres, coefficients quantised to 11 bits, replicated
 * borders; bilinear clamps its taps at the edges, Lanczos-4 uses 8 normalised taps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lgms.h"

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Lanczos-4 weights for a fractional offset fx in [0, 1), normalised to sum 1. */
static void lanczos4_weights(float fx, float *wt) {
    if (fx < 1.1920929e-7f) {
        for (int i = 0; i < 8; i++)
            wt[i] = i == 3 ? 1.0f : 0.0f;
        return;
    }
    double sum = 0;
    for (int i = 0; i < 8; i++) {
        double t = (double)fx + 3 - i, y = M_PI * t;
        wt[i] = (float)(4.0 * sin(y) * sin(y / 4.0) / (y * y));
        sum += wt[i];
    }
    for (int i = 0; i < 8; i++)
        wt[i] = (float)(wt[i] / sum);
}

/* Per destination index: first source tap and ksize fixed-point weights (cv2 conventions:
 * bilinear moves a tap that falls off the edge onto it with weight 1 along x only; along y
 * it keeps the fraction, and the clamped source rows make the same value, except in the
 * rounding below). */
static void resize_taps(int src_len, int dst_len, lgms_resize_filter filter, int clamp_edges, int *first, short *coef) {
    double scale = (double)src_len / dst_len;
    int ksize = filter == LGMS_RESIZE_LANCZOS4 ? 8 : 2;
    for (int d = 0; d < dst_len; d++) {
        float fx = (float)((d + 0.5) * scale - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        float wt[8];
        if (filter == LGMS_RESIZE_LANCZOS4) {
            lanczos4_weights(fx, wt);
            first[d] = sx - 3;
        } else {
            if (clamp_edges && sx < 0) fx = 0, sx = 0;
            if (clamp_edges && sx >= src_len - 1) fx = 0, sx = src_len - 1;
            wt[0] = 1.0f - fx, wt[1] = fx;
            first[d] = sx;
        }
        for (int k = 0; k < ksize; k++)
            coef[d * ksize + k] = (short)lrintf(wt[k] * COEF_SCALE);
    }
}

/* Rows [y0, y1) of the dw x dh resize into dst (row y at dst + y * dw * cn). */
static lgms_status resize_separable(const lgms_image_u8 *src, uint8_t *dst, int dw, int dh, lgms_resize_filter filter,
                                    int y0, int y1) {
    int cn = src->channels, sw = src->width, sh = src->height;
    int ksize = filter == LGMS_RESIZE_LANCZOS4 ? 8 : 2;
    int *xfirst = malloc(sizeof(int) * (size_t)dw), *yfirst = malloc(sizeof(int) * (size_t)dh);
    int *xtap = malloc(sizeof(int) * (size_t)dw * ksize);
    short *xcoef = malloc(sizeof(short) * (size_t)dw * ksize), *ycoef = malloc(sizeof(short) * (size_t)dh * ksize);
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)ksize * dw * cn);
    if (!xfirst || !yfirst || !xtap || !xcoef || !ycoef || !rows) {
        free(xfirst), free(yfirst), free(xtap), free(xcoef), free(ycoef), free(rows);
        return LGMS_ERR_NOMEM;
    }
    resize_taps(sw, dw, filter, 1, xfirst, xcoef);
    resize_taps(sh, dh, filter, 0, yfirst, ycoef);
    for (int dx = 0; dx < dw; dx++) /* each tap's source offset, clamped once here */
        for (int j = 0; j < ksize; j++)
            xtap[dx * ksize + j] = clampi(xfirst[dx] + j, 0, sw - 1) * cn;
    int row_len = dw * cn;
    for (int dy = y0; dy < y1; dy++) {
        for (int k = 0; k < ksize; k++) {
            int sy = clampi(yfirst[dy] + k, 0, sh - 1);
            const uint8_t *srow = src->pixels + (size_t)sy * sw * cn;
            int32_t *hrow = rows + (size_t)k * row_len;
            if (ksize == 2) {
                for (int dx = 0; dx < dw; dx++) {
                    const short *cx = xcoef + dx * 2;
                    const uint8_t *a = srow + xtap[dx * 2], *b = srow + xtap[dx * 2 + 1];
                    for (int c = 0; c < cn; c++)
                        hrow[dx * cn + c] = cx[0] * a[c] + cx[1] * b[c];
                }
            } else {
                for (int dx = 0; dx < dw; dx++) {
                    const short *cx = xcoef + dx * ksize;
                    for (int c = 0; c < cn; c++) {
                        int32_t acc = 0;
                        for (int j = 0; j < ksize; j++)
                            acc += cx[j] * srow[xtap[dx * ksize + j] + c];
                        hrow[dx * cn + c] = acc;
                    }
                }
            }
        }
        const short *cy = ycoef + dy * ksize;
        uint8_t *drow = dst + (size_t)dy * row_len;
        if (ksize == 2) {
            /* cv2's vectorised rounding, not the exact one: both sums lose 4 bits, each
             * product keeps its high 16 bits, and the sum is rounded at 2 bits. It gives
             * cv2.resize's pixels exactly (the exact rounding was 1 grey level off at ~10%
             * of them) wherever cv2 takes its vector loop: rows of a multiple of 32 samples,
             * which every model input is. Sums are <= 255 * 2^11, weights in 0..2^11. */
            const int32_t *r0 = rows, *r1 = rows + row_len;
            int32_t c0 = cy[0], c1 = cy[1];
            for (int i = 0; i < row_len; i++) {
                int32_t v = (((r0[i] >> 4) * c0 >> 16) + ((r1[i] >> 4) * c1 >> 16) + 2) >> 2;
                drow[i] = (uint8_t)(v > 255 ? 255 : v);
            }
            continue;
        }
        for (int i = 0; i < row_len; i++) {
            int64_t acc = 0;
            for (int k = 0; k < ksize; k++)
                acc += (int64_t)cy[k] * rows[(size_t)k * row_len + i];
            int64_t v = (acc + ((int64_t)1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS);
            drow[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(xfirst), free(yfirst), free(xtap), free(xcoef), free(ycoef), free(rows);
    return LGMS_OK;
}

/* Rows [y0, y1) of lgms_resize_u8. */
static lgms_status resize_rows(const lgms_image_u8 *src, uint8_t *dst, int dw, int dh, lgms_resize_filter filter,
                               int y0, int y1) {
    int cn = src->channels;
    if (!src->pixels || src->width < 1 || src->height < 1 || dw < 1 || dh < 1 || (cn != 1 && cn != 3 && cn != 4))
        return LGMS_ERR_ARG;
    size_t row = (size_t)dw * cn;
    if (src->width == dw && src->height == dh) {
        memcpy(dst + (size_t)y0 * row, src->pixels + (size_t)y0 * row, (size_t)(y1 - y0) * row);
        return LGMS_OK;
    }
    if (filter == LGMS_RESIZE_NEAREST) {
        double sx = (double)src->width / dw, sy = (double)src->height / dh;
        for (int y = y0; y < y1; y++) {
            int yy = clampi((int)floor(y * sy), 0, src->height - 1);
            for (int x = 0; x < dw; x++) {
                int xx = clampi((int)floor(x * sx), 0, src->width - 1);
                memcpy(dst + ((size_t)y * dw + x) * cn, src->pixels + ((size_t)yy * src->width + xx) * cn, (size_t)cn);
            }
        }
        return LGMS_OK;
    }
    return resize_separable(src, dst, dw, dh, filter, y0, y1);
}

lgms_status lgms_resize_u8(const lgms_image_u8 *src, uint8_t *dst, int dw, int dh, lgms_resize_filter filter) {
    return resize_rows(src, dst, dw, dh, filter, 0, dh);
}

lgms_status lgms_preprocess(const lgms_meta *meta, const lgms_image_u8 *img, uint8_t *scratch, float *tensor) {
    return lgms_preprocess_rows(meta, img, 0, meta->input_height, scratch, tensor);
}

lgms_status lgms_preprocess_rows(const lgms_meta *meta, const lgms_image_u8 *img, int y0, int y1, uint8_t *scratch,
                                 float *tensor) {
    int W = meta->input_width, H = meta->input_height, inc = meta->in_channels;
    if (!img->pixels || img->width < 1 || img->height < 1 || (img->channels != 1 && img->channels != 3))
        return LGMS_ERR_ARG;
    if (inc != 1 && inc != 3) return LGMS_ERR_ARG;
    if (y0 < 0 || y1 > H || y0 > y1) return LGMS_ERR_ARG;
    lgms_status st = resize_rows(img, scratch, W, H, meta->resize, y0, y1);
    if (st) return st;
    size_t plane = (size_t)W * H, i0 = (size_t)y0 * W, i1 = (size_t)y1 * W;
    for (int c = 0; c < inc; c++) {
        /* channel c of the tensor comes from image channel src_c (BGR reverses RGB) */
        int src_c = img->channels == 1 ? 0 : (meta->channel_order == LGMS_ORDER_BGR ? 2 - c : c);
        float m = meta->mean[c] * 255.0f, inv = 1.0f / (meta->std[c] * 255.0f), k = meta->extra_scale;
        float *dst = tensor + (size_t)c * plane;
        for (size_t i = i0; i < i1; i++) {
            float v;
            if (inc == 1 && img->channels == 3) {
                const uint8_t *p = scratch + i * 3; /* ITU-R 601 luma, as cv2.COLOR_RGB2GRAY */
                v = (float)((p[0] * 4899 + p[1] * 9617 + p[2] * 1868 + 8192) >> 14);
            } else {
                v = scratch[i * img->channels + src_c];
            }
            dst[i] = (v - m) * inv * k;
        }
    }
    return LGMS_OK;
}
