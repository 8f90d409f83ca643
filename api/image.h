/* image.h - decode uploaded PNG/JPEG bytes to 8-bit grey or RGB, encode PNGs.
 *
 * The pixel limit is checked against the header before any pixel buffer is allocated.
 * 16-bit samples keep their high byte (v >> 8), which is what cv2.imread does with the
 * same files, so the engine sees what the official pipeline saw. Alpha is dropped. */
#ifndef LGMS_API_IMAGE_H
#define LGMS_API_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "parallel.h"

typedef enum {
    API_IMAGE_OK = 0,
    API_IMAGE_UNSUPPORTED, /* not a PNG or JPEG, or a variant we cannot decode (e.g. CMYK) -> 415 */
    API_IMAGE_CORRUPT,     /* truncated or malformed -> 422 */
    API_IMAGE_TOO_LARGE,   /* more pixels than allowed -> 413 */
    API_IMAGE_NOMEM
} api_image_status;

typedef struct {
    uint8_t *pixels; /* rows packed, channels interleaved; 16-bit sources: the high byte */
    uint16_t *deep;  /* 16-bit sources only (else NULL): the file's samples, same layout */
    int width, height;
    int channels;       /* 1 (grey) or 3 (RGB) */
    int source_depth;   /* bits per sample in the file (8 or 16; 1..8 reported as 8) */
    const char *format; /* "png" or "jpeg" */
} api_image;

api_image_status api_image_decode(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, char *err,
                                  size_t errlen);
void api_image_free(api_image *img);

/* PNG of 8-bit grey (channels 1) or RGB (3) pixels into a malloc'ed buffer. 0 on success. */
int api_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len);

/* The same, the rows deflated in bands on par's threads (par NULL or 1 thread: serially). */
int api_png_encode_parallel(const uint8_t *pixels, int width, int height, int channels, const api_parallel *par,
                            uint8_t **out, size_t *out_len);

#endif
