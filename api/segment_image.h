/* segment_image.h - one image segmented start to finish: decode (PNG, JPEG), the window
 * when asked, preprocess, the 2-D network, the label map at the original size and its
 * statistics. The result is a struct; reply.h turns it into PNGs and JSON (the daemon) or
 * files (the command line). Runs on a worker thread (or the CLI). */
#ifndef LGMS_API_SEGMENT_IMAGE_H
#define LGMS_API_SEGMENT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lgms.h"
#include "image.h"
#include "options.h"
#include "parallel.h"
#include "render.h"
#include "status.h"

/* Per worker and 2-D model: the engine state and buffers reused across images. */
typedef struct api_image_ctx api_image_ctx;
/* threads: engine threads that split each inference (lgms_state_set_threads). */
api_image_ctx *api_image_ctx_new(const lgms_model *m, int threads);
void api_image_ctx_free(api_image_ctx *c);
const lgms_meta *api_image_ctx_meta(const api_image_ctx *c);
/* Bytes of engine scratch plus the context's own buffers (after a first inference: all of it). */
size_t api_image_ctx_bytes(const api_image_ctx *c);
/* The context's engine threads, lent between inferences (the reply's PNGs are deflated on them). */
api_parallel api_image_ctx_parallel(api_image_ctx *c);

typedef struct {
    double queue, decode, preprocess, inference, postprocess, encode, total; /* milliseconds */
} api_timings;

typedef struct {
    api_image image;   /* the decoded input, window applied: what the overlay is drawn on */
    api_window window; /* as applied (mode API_WINDOW_NONE: none) */
    float threshold;
    uint8_t *labels; /* width x height: 0 background, else the class */
    uint8_t *prob;   /* foreground probability x 255 when opts asked for it, else NULL */
    int n_labels;    /* background + classes */
    api_class_stats stats[LGMS_MAX_CLASSES + 1];
    api_timings t; /* decode .. postprocess here; the caller adds queue, encode and total */
} api_image_result;

/* From uploaded bytes (PNG or JPEG; max_pixels checked from the header). API_OK, or the
 * decoder's refusal (413/415/422) or API_INTERNAL, with e set; r holds nothing on failure. */
api_status api_segment_image(api_image_ctx *ctx, const uint8_t *bytes, size_t len, uint64_t max_pixels,
                             const api_options *opts, api_image_result *r, api_error *e);
/* The same from a decoded image, which the result takes over (img is left empty). The
 * request's window is applied here unless the decoder already applied one (applied not
 * NULL: the window it reports, a DICOM decode's). */
api_status api_segment_decoded(api_image_ctx *ctx, api_image *img, const api_options *opts, const api_window *applied,
                               api_image_result *r, api_error *e);
void api_image_result_free(api_image_result *r);

#endif
