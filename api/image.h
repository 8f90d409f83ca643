/* image.h - decode uploaded PNG/JPEG bytes to 8-bit grey or RGB, encode PNGs.
 *
 * The pixel limit is checked against the header before any pixel buffer is allocated.
 * 16-bit samples keep their high byte (v >> 8), which is what cv2.imread does with the
 * same files, so the engine sees what the official pipeline saw; the 16-bit samples are
 * kept too, for a window asked for explicitly (api_image_apply_window). Alpha is dropped,
 * palettes are expanded, 1/2/4-bit grey is scaled to 0..255. */
#ifndef LGMS_API_IMAGE_H
#define LGMS_API_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "parallel.h"
#include "status.h"

typedef struct {
    uint8_t *pixels; /* rows packed, channels interleaved; 16-bit sources: the high byte */
    uint16_t *deep;  /* 16-bit sources only (else NULL): the file's samples, same layout */
    int width, height;
    int channels;       /* 1 (grey) or 3 (RGB) */
    int source_depth;   /* bits per sample in the file (8 or 16; 1..8 reported as 8) */
    const char *format; /* "png" or "jpeg" */
} api_image;

/* JPEG scans decoded at most (422 past them): see decode_jpeg in image.c. */
#define API_JPEG_MAX_SCANS 100

/* API_OK; API_UNSUPPORTED (not a PNG or JPEG, or a variant we cannot decode, e.g. CMYK),
 * API_UNPROCESSABLE (truncated or malformed), API_TOO_LARGE (max_pixels, from the header),
 * API_INTERNAL (out of memory); e says which. */
api_status api_image_decode(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, api_error *e);
void api_image_free(api_image *img);

/* Recompute the 8-bit pixels through an intensity window, from the 16-bit samples when
 * the file had them: the DICOM linear rule, y = ((x - (C - 0.5)) / (W - 1) + 0.5) * 255
 * clamped to 0..255 and rounded (W = 1: a threshold at C - 0.5). API_WINDOW_AUTO takes
 * C and W from the samples' own minimum and maximum and writes them into w. */
void api_image_apply_window(api_image *img, api_window *w);

/* The rule above for one value x (W = 1 included), and the C and W under which lo maps
 * to 0 and hi to 255 (what API_WINDOW_AUTO takes). Shared with the DICOM decoder so
 * that every format windows alike. */
uint8_t api_window_value(const api_window *w, double x);
void api_window_from_range(api_window *w, double lo, double hi);

/* Pixels per side a PNG may declare (before max_pixels is checked). */
#define API_PNG_SIDE_LIMIT 100000u

/* The two ways a PNG is decoded; api_image_decode takes the first, then the second. Both
 * give the same pixels where the first decodes (the tests and the image fuzzer check it).
 * api_png_decode_common: the common forms without libspng (png_decode.c says which):
 * 1 decoded into out, 0 declined (out untouched; no message: libspng words any error).
 * api_png_decode_spng: every PNG, through libspng; errors as api_image_decode's. */
int api_png_decode_common(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out);
api_status api_png_decode_spng(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, api_error *e);

/* One PNG of 8-bit grey (channels 1) or RGB (3) rows for api_png_encode_jobs: the rows are
 * at pixels, or (pixels NULL) draw writes rows y0..y1-1 into out when asked, which it may
 * be for overlapping ranges, from several threads at once. png/len: the file, malloc'ed. */
typedef struct {
    int width, height, channels;
    const uint8_t *pixels;
    void (*draw)(const void *arg, int y0, int y1, uint8_t *out);
    const void *arg;
    uint8_t *png;
    size_t len;
} api_png_job;

/* The n PNGs at once on par's threads (par NULL or 1 thread: serially, one band each):
 * each image is cut into row bands that are drawn, filtered and deflated apart (igzip
 * ends a band on a full flush, so the bands join into one zlib stream), and the threads
 * take the bands of all images from one queue, largest first. 0 on success; on failure
 * -1 and no png is left allocated. */
int api_png_encode_jobs(api_png_job *jobs, int n, const api_parallel *par);

/* PNG of 8-bit grey (channels 1) or RGB (3) pixels into a malloc'ed buffer. 0 on success. */
int api_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len);

/* The same, the rows deflated in bands on par's threads (par NULL or 1 thread: serially). */
int api_png_encode_parallel(const uint8_t *pixels, int width, int height, int channels, const api_parallel *par,
                            uint8_t **out, size_t *out_len);

#endif
