/* segment.c - the segmentation pipeline of one request and its JSON reply. */
#include "segment.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "image.h"
#include "problem.h"
#include "render.h"

struct api_segment_ctx {
    const lgms_model *model;
    lgms_state *state;
    float *tensor, *logits;
    uint8_t *resized;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

api_segment_ctx *api_segment_ctx_new(const lgms_model *m, int threads) {
    const lgms_meta *mt = lgms_model_meta(m);
    size_t plane = (size_t)mt->input_width * mt->input_height;
    api_segment_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->model = m;
    c->state = lgms_state_new(m);
    c->tensor = malloc(sizeof(float) * plane * mt->in_channels);
    c->logits = malloc(sizeof(float) * plane * mt->num_classes);
    c->resized = malloc(plane * 3);
    if (!c->state || !c->tensor || !c->logits || !c->resized || lgms_state_set_threads(c->state, threads)) {
        api_segment_ctx_free(c);
        return NULL;
    }
    return c;
}

size_t api_segment_ctx_bytes(const api_segment_ctx *c) {
    const lgms_meta *mt = lgms_model_meta(c->model);
    size_t plane = (size_t)mt->input_width * mt->input_height;
    return lgms_state_scratch_bytes(c->state) + plane * (sizeof(float) * (mt->in_channels + mt->num_classes) + 3);
}

void api_segment_ctx_free(api_segment_ctx *c) {
    if (!c) return;
    lgms_state_free(c->state);
    free(c->tensor), free(c->logits), free(c->resized), free(c);
}

/* preprocess + forward into ctx->logits; 0 or -1 with err */
static int run_network(api_segment_ctx *ctx, const uint8_t *pixels, int w, int h, int channels, double *t_pre,
                       double *t_inf, char *err, size_t errlen) {
    const lgms_meta *mt = lgms_model_meta(ctx->model);
    lgms_image_u8 img = {pixels, w, h, channels};
    double t0 = now_ms();
    if (lgms_preprocess(mt, &img, ctx->resized, ctx->tensor)) {
        snprintf(err, errlen, "preprocessing failed");
        return -1;
    }
    double t1 = now_ms();
    if (lgms_forward(ctx->state, ctx->tensor, 1, mt->input_height, mt->input_width, ctx->logits, err, errlen))
        return -1;
    *t_pre = t1 - t0, *t_inf = now_ms() - t1;
    return 0;
}

int api_segment_labels(api_segment_ctx *ctx, const uint8_t *pixels, int w, int h, int channels, float threshold,
                       uint8_t **labels, char *err, size_t errlen) {
    const lgms_meta *mt = lgms_model_meta(ctx->model);
    double a, b;
    *labels = malloc((size_t)w * h);
    if (!*labels) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (run_network(ctx, pixels, w, h, channels, &a, &b, err, errlen) ||
        lgms_postprocess(mt, ctx->logits, mt->input_width, mt->input_height, threshold, *labels, NULL, w, h)) {
        free(*labels);
        *labels = NULL;
        if (!err[0]) snprintf(err, errlen, "postprocessing failed");
        return -1;
    }
    return 0;
}

static void fail(api_segment_job *job, int status, const char *detail) {
    job->status = status;
    job->body = api_problem_json(status, detail, job->request_id);
    job->body_len = job->body ? strlen(job->body) : 0;
}

static void run_on_state(void *runner, void (*fn)(void *arg, int index, int count), void *arg) {
    lgms_state_run(runner, fn, arg);
}

/* {"mime": "image/png", "base64": ...} of an encoded PNG, deflated and base64-encoded on
 * the inference's threads */
static json_t *png_object(api_segment_ctx *ctx, const uint8_t *pixels, int w, int h, int channels) {
    uint8_t *png;
    size_t len;
    api_parallel par = {run_on_state, ctx->state, lgms_state_threads(ctx->state)};
    if (api_png_encode_parallel(pixels, w, h, channels, &par, &png, &len)) return NULL;
    char *b64 = malloc(api_base64_encoded_len(len) + 1);
    json_t *o = NULL;
    if (b64) {
        api_base64_encode_parallel(png, len, b64, &par);
        /* base64 is ASCII: no UTF-8 check needed */
        o = json_pack("{s:s, s:o}", "mime", "image/png", "base64",
                      json_stringn_nocheck(b64, api_base64_encoded_len(len)));
    }
    free(b64);
    free(png);
    return o;
}

static json_t *classes_json(const lgms_meta *mt, const uint8_t *labels, int w, int h) {
    int n_labels = mt->num_classes == 1 ? 2 : mt->num_classes;
    api_class_stats stats[LGMS_MAX_CLASSES + 1];
    api_label_stats(labels, w, h, n_labels, stats);
    json_t *arr = json_array();
    double total = (double)w * h;
    for (int c = 1; c < n_labels; c++) {
        const api_class_stats *s = &stats[c];
        json_t *bbox = s->pixels ? json_pack("{s:i, s:i, s:i, s:i}", "x", s->x0, "y", s->y0, "width", s->x1 - s->x0 + 1,
                                             "height", s->y1 - s->y0 + 1)
                                 : json_null();
        json_array_append_new(arr,
                              json_pack("{s:i, s:s, s:I, s:f, s:o}", "id", c, "name", mt->class_names[c - 1], "pixels",
                                        (json_int_t)s->pixels, "fraction", s->pixels / total, "bbox", bbox));
    }
    return arr;
}

static double round2(double v) { return (double)(long long)(v * 100.0 + 0.5) / 100.0; }

void api_segment_run(api_segment_job *job, api_segment_ctx *ctx) {
    const lgms_meta *mt = lgms_model_meta(ctx->model);
    double start = now_ms();
    char err[512] = "";
    api_image img;
    uint8_t *labels = NULL, *prob = NULL, *scratch = NULL;
    json_t *reply = NULL;
    memset(&job->t, 0, sizeof job->t);
    job->t.queue = job->queue_ms;
    job->body = NULL;

    api_image_status ist = api_image_decode(job->image, job->image_len, job->max_pixels, &img, err, sizeof err);
    double t_dec = now_ms();
    if (ist) {
        if (ist == API_IMAGE_TOO_LARGE) {
            char detail[640];
            snprintf(detail, sizeof detail, "%s (set LGMSD_MAX_PIXELS or --max-pixels)", err);
            fail(job, 413, detail);
        } else {
            fail(job,
                 ist == API_IMAGE_UNSUPPORTED ? 415
                 : ist == API_IMAGE_CORRUPT   ? 422
                                              : 500,
                 ist == API_IMAGE_NOMEM ? "out of memory decoding the image" : err);
        }
        return;
    }
    job->width = img.width, job->height = img.height;
    job->t.decode = t_dec - start;
    float threshold = job->opts.has_threshold ? job->opts.threshold : mt->threshold;
    size_t n = (size_t)img.width * img.height;
    labels = malloc(n);
    prob = job->opts.want_probabilities ? malloc(n) : NULL;
    scratch = malloc(n * 3);
    if (!labels || !scratch || (job->opts.want_probabilities && !prob)) {
        fail(job, 500, "out of memory for the result images");
        goto out;
    }
    if (run_network(ctx, img.pixels, img.width, img.height, img.channels, &job->t.preprocess, &job->t.inference, err,
                    sizeof err)) {
        fail(job, 500, err);
        goto out;
    }
    double t_post0 = now_ms();
    if (lgms_postprocess(mt, ctx->logits, mt->input_width, mt->input_height, threshold, labels, prob, img.width,
                         img.height)) {
        fail(job, 500, "postprocessing failed");
        goto out;
    }
    reply = json_pack("{s:s, s:s, s:i, s:i, s:f}", "request_id", job->request_id ? job->request_id : "", "model",
                      job->model_name, "width", img.width, "height", img.height, "threshold", (double)threshold);
    json_object_set_new(reply, "classes", classes_json(mt, labels, img.width, img.height));
    double t_enc0 = now_ms();
    job->t.postprocess = t_enc0 - t_post0;
    int ok = 1;
    if (job->opts.want_mask) {
        api_mask_pixels(labels, img.width, img.height, mt->num_classes == 1, scratch);
        json_t *o = png_object(ctx, scratch, img.width, img.height, 1);
        ok = ok && o && !json_object_set_new(reply, "mask", o);
    }
    if (job->opts.want_overlay) {
        api_render_overlay(img.pixels, img.channels, labels, img.width, img.height, job->opts.alpha, scratch);
        json_t *o = png_object(ctx, scratch, img.width, img.height, 3);
        ok = ok && o && !json_object_set_new(reply, "overlay", o);
    }
    if (prob) {
        json_t *o = png_object(ctx, prob, img.width, img.height, 1);
        ok = ok && o && !json_object_set_new(reply, "probabilities", o);
    }
    if (!ok) {
        fail(job, 500, "encoding the result images failed");
        goto out;
    }
    double end = now_ms();
    job->t.encode = end - t_enc0;
    job->t.total = job->queue_ms + (end - start);
    json_object_set_new(reply, "timings_ms",
                        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "queue", round2(job->t.queue), "decode",
                                  round2(job->t.decode), "preprocess", round2(job->t.preprocess), "inference",
                                  round2(job->t.inference), "postprocess", round2(job->t.postprocess), "encode",
                                  round2(job->t.encode), "total", round2(job->t.total)));
    job->body = json_dumps(reply, JSON_COMPACT);
    if (!job->body) {
        fail(job, 500, "building the reply failed");
        goto out;
    }
    job->body_len = strlen(job->body);
    job->status = 200;
out:
    json_decref(reply);
    api_image_free(&img);
    free(labels), free(prob), free(scratch);
}
