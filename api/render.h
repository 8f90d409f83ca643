/* render.h - what is drawn and counted from a label map: per-class statistics and the
 * overlay (the input in RGB with the mask blended at alpha and its outline drawn). */
#ifndef LGMS_API_RENDER_H
#define LGMS_API_RENDER_H

#include <stdint.h>

typedef struct {
    uint64_t pixels;
    int x0, y0, x1, y1; /* inclusive bounding box, valid when pixels > 0 */
} api_class_stats;

/* stats[c] for labels 1..n_labels-1 (stats[0] is background). */
void api_label_stats(const uint8_t *labels, int w, int h, int n_labels, api_class_stats *stats);
/* The same over rows [y0, y1) only; and into += more (the stats of other rows). */
void api_label_stats_rows(const uint8_t *labels, int w, int h, int y0, int y1, int n_labels, api_class_stats *stats);
void api_label_stats_join(api_class_stats *into, const api_class_stats *more, int n_labels);
/* RGB overlay of an 8-bit grey (channels 1) or RGB (3) image. out holds w*h*3 bytes. */
void api_render_overlay(const uint8_t *pixels, int channels, const uint8_t *labels, int w, int h, float alpha,
                        uint8_t *out);
/* Rows y0..y1-1 of that overlay into out ((y1 - y0) * w * 3 bytes): the same bytes. */
void api_render_overlay_rows(const uint8_t *pixels, int channels, const uint8_t *labels, int w, int h, float alpha,
                             int y0, int y1, uint8_t *out);
/* Mask PNG pixels: 0/255 for one class, else the class id; and rows y0..y1-1 of them. */
void api_mask_pixels(const uint8_t *labels, int w, int h, int one_class, uint8_t *out);
void api_mask_rows(const uint8_t *labels, int w, int one_class, int y0, int y1, uint8_t *out);

#endif
