/* segment.h - one segmentation request, run start to finish on a worker thread:
 * decode, preprocess, engine, postprocess at the original size, statistics, mask /
 * overlay / probability PNGs in base64, and the JSON reply (or a problem+json). */
#ifndef LGMS_API_SEGMENT_H
#define LGMS_API_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lgms.h"
#include "options.h"

/* Per worker and model: the engine state and buffers reused across requests. */
typedef struct api_segment_ctx api_segment_ctx;
/* threads: engine threads that split each inference (lgms_state_set_threads). */
api_segment_ctx *api_segment_ctx_new(const lgms_model *m, int threads);
void api_segment_ctx_free(api_segment_ctx *c);
/* Bytes of engine scratch plus the context's own buffers (after a first inference: all of it). */
size_t api_segment_ctx_bytes(const api_segment_ctx *c);

typedef struct {
    double queue, decode, preprocess, inference, postprocess, encode, total; /* milliseconds */
} api_timings;

typedef struct {
    /* in */
    const uint8_t *image;
    size_t image_len;
    api_options opts;
    uint64_t max_pixels;
    const char *model_name;
    const char *request_id;
    double queue_ms;
    /* out */
    int status; /* 200, or the error status */
    char *body; /* malloc'ed JSON reply or problem+json */
    size_t body_len;
    int width, height;
    api_timings t;
} api_segment_job;

void api_segment_run(api_segment_job *job, api_segment_ctx *ctx);

/* Run the served pipeline without JSON: decoded image in, label map at the image's size
 * out (malloc'ed into *labels). Used by `lgmsd eval` and `lgmsd segment`. */
int api_segment_labels(api_segment_ctx *ctx, const uint8_t *pixels, int w, int h, int channels, float threshold,
                       uint8_t **labels, char *err, size_t errlen);

#endif
