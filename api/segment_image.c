/* segment_image.c - the 2-D pipeline of one image. */
#include "segment_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_image_ctx {
    const lgms_model *model;
    lgms_state *state;
    float *tensor, *logits;
    uint8_t *resized;
};

api_image_ctx *api_image_ctx_new(const lgms_model *m, int threads) {
    const lgms_meta *mt = lgms_model_meta(m);
    size_t plane = (size_t)mt->input_width * mt->input_height;
    api_image_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->model = m;
    c->state = lgms_state_new(m);
    c->tensor = malloc(sizeof(float) * plane * mt->in_channels);
    c->logits = malloc(sizeof(float) * plane * mt->num_classes);
    c->resized = malloc(plane * 3);
    if (!c->state || !c->tensor || !c->logits || !c->resized || lgms_state_set_threads(c->state, threads)) {
        api_image_ctx_free(c);
        return NULL;
    }
    return c;
}

const lgms_meta *api_image_ctx_meta(const api_image_ctx *c) { return lgms_model_meta(c->model); }

size_t api_image_ctx_bytes(const api_image_ctx *c) {
    const lgms_meta *mt = lgms_model_meta(c->model);
    size_t plane = (size_t)mt->input_width * mt->input_height;
    return lgms_state_scratch_bytes(c->state) + plane * (sizeof(float) * (mt->in_channels + mt->num_classes) + 3);
}

void api_image_ctx_free(api_image_ctx *c) {
    if (!c) return;
    lgms_state_free(c->state);
    free(c->tensor), free(c->logits), free(c->resized), free(c);
}

static void run_on_state(void *runner, void (*fn)(void *arg, int index, int count), void *arg) {
    lgms_state_run(runner, fn, arg);
}

api_parallel api_image_ctx_parallel(api_image_ctx *c) {
    return (api_parallel){run_on_state, c->state, lgms_state_threads(c->state)};
}

void api_image_result_free(api_image_result *r) {
    api_image_free(&r->image);
    free(r->labels), free(r->prob);
    r->labels = r->prob = NULL;
}

/* Pre- and postprocessing in row bands on the state's threads (they sit idle between
 * inferences): one band per thread, each with its own status and class statistics. */
typedef struct {
    api_image_ctx *ctx;
    const lgms_meta *mt;
    const lgms_image_u8 *src;
    api_image_result *r;
    lgms_status *st;        /* per band */
    api_class_stats *stats; /* per band: n_labels each */
} stage_job;

/* Images this small (output pixels) stay on one thread: the bands would cost more to start. */
#define STAGE_BAND_PIXELS (64u << 10)

static void pre_band(void *arg, int i, int n) {
    stage_job *j = arg;
    int h = j->mt->input_height;
    j->st[i] = lgms_preprocess_rows(j->mt, j->src, (int)((long long)h * i / n), (int)((long long)h * (i + 1) / n),
                                    j->ctx->resized, j->ctx->tensor);
}

static void post_band(void *arg, int i, int n) {
    stage_job *j = arg;
    api_image_result *r = j->r;
    const lgms_meta *mt = j->mt;
    int w = r->image.width, h = r->image.height, y0 = (int)((long long)h * i / n),
        y1 = (int)((long long)h * (i + 1) / n);
    j->st[i] = lgms_postprocess_rows(mt, j->ctx->logits, mt->input_width, mt->input_height, r->threshold, r->labels,
                                     r->prob, w, h, y0, y1);
    api_label_stats_rows(r->labels, w, h, y0, y1, r->n_labels, j->stats + (size_t)i * r->n_labels);
}

/* fn over bands on the state's threads (or one band here); the bands' statuses joined. */
static lgms_status in_bands(stage_job *j, void (*fn)(void *, int, int), int bands) {
    if (bands == 1) {
        fn(j, 0, 1);
        return j->st[0];
    }
    lgms_state_run(j->ctx->state, fn, j);
    for (int i = 0; i < bands; i++)
        if (j->st[i]) return j->st[i];
    return LGMS_OK;
}

api_status api_segment_decoded(api_image_ctx *ctx, api_image *img, const api_options *opts, const api_window *applied,
                               api_image_result *r, api_error *e) {
    const lgms_meta *mt = lgms_model_meta(ctx->model);
    double t0 = lgms_now();
    memset(r, 0, sizeof *r);
    r->image = *img;
    memset(img, 0, sizeof *img);
    if (applied) {
        r->window = *applied;
    } else {
        r->window = opts->window;
        api_image_apply_window(&r->image, &r->window);
    }
    r->threshold = opts->has_threshold ? opts->threshold : mt->threshold;
    r->n_labels = lgms_label_count(mt);
    int w = r->image.width, h = r->image.height;
    size_t n = (size_t)w * h;
    r->labels = malloc(n);
    r->prob = opts->want_probabilities ? malloc(n) : NULL;
    if (!r->labels || (opts->want_probabilities && !r->prob)) goto nomem;
    lgms_image_u8 src = {r->image.pixels, w, h, r->image.channels};
    int threads = lgms_state_threads(ctx->state);
    int bands = threads > 1 && n >= STAGE_BAND_PIXELS ? threads : 1;
    api_class_stats *band_stats = malloc((sizeof *band_stats * r->n_labels + sizeof(lgms_status)) * (size_t)bands);
    if (!band_stats) goto nomem;
    stage_job job = {ctx, mt, &src, r, (lgms_status *)(band_stats + (size_t)bands * r->n_labels), band_stats};
    if (in_bands(&job, pre_band, bands)) {
        free(band_stats);
        api_image_result_free(r);
        return api_fail(e, API_INTERNAL, "preprocessing failed");
    }
    double t1 = lgms_now();
    char err[256];
    if (lgms_forward(ctx->state, ctx->tensor, 1, mt->input_height, mt->input_width, ctx->logits, err, sizeof err)) {
        free(band_stats);
        api_image_result_free(r);
        return api_fail(e, API_INTERNAL, "%s", err);
    }
    double t2 = lgms_now();
    if (in_bands(&job, post_band, bands)) {
        free(band_stats);
        goto nomem;
    }
    memcpy(r->stats, band_stats, sizeof *band_stats * r->n_labels);
    for (int i = 1; i < bands; i++)
        api_label_stats_join(r->stats, band_stats + (size_t)i * r->n_labels, r->n_labels);
    free(band_stats);
    double t3 = lgms_now();
    r->t.preprocess = (t1 - t0) * 1e3, r->t.inference = (t2 - t1) * 1e3, r->t.postprocess = (t3 - t2) * 1e3;
    return API_OK;
nomem:
    api_image_result_free(r);
    return api_fail(e, API_INTERNAL, "out of memory for the result images");
}

api_status api_segment_image(api_image_ctx *ctx, const uint8_t *bytes, size_t len, uint64_t max_pixels,
                             const api_options *opts, api_image_result *r, api_error *e) {
    memset(r, 0, sizeof *r);
    double t0 = lgms_now();
    api_image img;
    api_status st = api_image_decode(bytes, len, max_pixels, &img, e);
    if (st) return st;
    double decode = (lgms_now() - t0) * 1e3;
    st = api_segment_decoded(ctx, &img, opts, NULL, r, e);
    r->t.decode = decode;
    return st;
}
