/* render.c - label statistics, overlay rendering, mask pixels. */
#include "render.h"

#include <string.h>

/* Distinct colours for classes 1.. (wraps after 8). */
static const uint8_t palette[8][3] = {{255, 48, 48},  {48, 200, 64}, {64, 128, 255}, {255, 200, 0},
                                      {200, 64, 255}, {0, 220, 220}, {255, 128, 0},  {255, 96, 192}};

void api_label_stats(const uint8_t *labels, int w, int h, int n_labels, api_class_stats *stats) {
    api_label_stats_rows(labels, w, h, 0, h, n_labels, stats);
}

void api_label_stats_rows(const uint8_t *labels, int w, int h, int y0, int y1, int n_labels, api_class_stats *stats) {
    for (int c = 0; c < n_labels; c++)
        stats[c] = (api_class_stats){0, w, h, -1, -1};
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = labels + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int c = row[x];
            if (c == 0 || c >= n_labels) continue;
            api_class_stats *s = &stats[c];
            s->pixels++;
            if (x < s->x0) s->x0 = x;
            if (x > s->x1) s->x1 = x;
            if (y < s->y0) s->y0 = y;
            if (y > s->y1) s->y1 = y;
        }
    }
}

void api_label_stats_join(api_class_stats *into, const api_class_stats *more, int n_labels) {
    for (int c = 0; c < n_labels; c++) {
        api_class_stats *a = &into[c];
        const api_class_stats *b = &more[c];
        a->pixels += b->pixels;
        a->x0 = b->x0 < a->x0 ? b->x0 : a->x0, a->y0 = b->y0 < a->y0 ? b->y0 : a->y0;
        a->x1 = b->x1 > a->x1 ? b->x1 : a->x1, a->y1 = b->y1 > a->y1 ? b->y1 : a->y1;
    }
}

void api_render_overlay(const uint8_t *pixels, int channels, const uint8_t *labels, int w, int h, float alpha,
                        uint8_t *out) {
    api_render_overlay_rows(pixels, channels, labels, w, h, alpha, 0, h, out);
}

void api_render_overlay_rows(const uint8_t *pixels, int channels, const uint8_t *labels, int w, int h, float alpha,
                             int y0, int y1, uint8_t *out) {
    int a = (int)(alpha * 256.0f + 0.5f);
    for (int y = y0; y < y1; y++) {
        const uint8_t *lrow = labels + (size_t)y * w, *src = pixels + (size_t)y * w * channels;
        uint8_t *orow = out + (size_t)(y - y0) * w * 3;
        if (channels == 3)
            memcpy(orow, src, (size_t)w * 3);
        else
            for (int x = 0; x < w; x++) /* grey to RGB */
                orow[3 * x] = orow[3 * x + 1] = orow[3 * x + 2] = src[x];
        for (int x = 0; x < w; x++) {
            int lab = lrow[x];
            if (!lab) continue;
            uint8_t *dst = orow + (size_t)x * 3;
            const uint8_t *col = palette[(lab - 1) % 8];
            int edge = x == 0 || y == 0 || x == w - 1 || y == h - 1 || lrow[x - 1] != lab || lrow[x + 1] != lab ||
                       lrow[x - w] != lab || lrow[x + w] != lab;
            for (int c = 0; c < 3; c++)
                dst[c] = edge ? col[c] : (uint8_t)((dst[c] * (256 - a) + col[c] * a + 128) >> 8);
        }
    }
}

void api_mask_pixels(const uint8_t *labels, int w, int h, int one_class, uint8_t *out) {
    api_mask_rows(labels, w, one_class, 0, h, out);
}

void api_mask_rows(const uint8_t *labels, int w, int one_class, int y0, int y1, uint8_t *out) {
    const uint8_t *in = labels + (size_t)y0 * w;
    size_t n = (size_t)w * (y1 - y0);
    if (!one_class) {
        memcpy(out, in, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] ? 255 : 0;
}
