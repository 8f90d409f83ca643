/* workers.c - worker set-up, warm-up and the two task runners. */
#include "workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/dicom.h"
#include "../api/jsonform.h"
#include "../api/reply.h"
#include "../api/segment_image.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "server.h"

typedef struct {
    api_image_ctx *img[LGMSD_MAX_MODELS]; /* 2-D models */
    lgms_state *vol[LGMSD_MAX_MODELS];    /* 3-D models: engine states for volume patches */
} worker_local;

static void free_local(const lgmsd_server *s, worker_local *w) {
    for (int i = 0; i < s->n_models; i++)
        api_image_ctx_free(w->img[i]), lgms_state_free(w->vol[i]);
    free(w);
}

/* One real inference: sizes the arena and proves the model runs. */
static int warm_up(const lgmsd_server *s, int index, int m, api_image_ctx *ctx) {
    api_image img = {.width = 64, .height = 64, .channels = 1, .source_depth = 8, .format = "png"};
    img.pixels = calloc(64 * 64, 1);
    api_options opts;
    api_options_init(&opts);
    api_image_result r;
    api_error e;
    if (!img.pixels || api_segment_decoded(ctx, &img, &opts, NULL, &r, &e)) {
        lgmsd_log(LGMSD_LOG_ERROR, "worker %d: warm-up of model %s failed: %s", index, s->models[m].name,
                  img.pixels ? e.detail : "out of memory");
        api_image_free(&img);
        return -1;
    }
    api_image_result_free(&r);
    lgmsd_log(LGMSD_LOG_INFO, "worker %d: model %s warm, %.1f MiB of scratch, %d engine thread(s)", index,
              s->models[m].name, api_image_ctx_bytes(ctx) / 1048576.0, s->engine_threads);
    return 0;
}

void *lgmsd_worker_init(int index, void *arg) {
    lgmsd_server *s = arg;
    worker_local *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    for (int i = 0; i < s->n_models; i++) {
        const lgms_model *m = s->models[i].model;
        if (lgms_model_meta(m)->spatial_dims == 3) { /* volumes: an engine state, sized by use */
            w->vol[i] = lgms_state_new(m);
            if (w->vol[i] && !lgms_state_set_threads(w->vol[i], s->engine_threads)) continue;
        } else if ((w->img[i] = api_image_ctx_new(m, s->engine_threads))) {
            if (!s->cfg->warmup || !warm_up(s, index, i, w->img[i])) continue;
            free_local(s, w);
            return NULL;
        }
        lgmsd_log(LGMSD_LOG_ERROR, "worker %d: out of memory for model %s", index, s->models[i].name);
        free_local(s, w);
        return NULL;
    }
    return w;
}

void lgmsd_worker_fini(void *local, void *arg) {
    if (local) free_local(arg, local);
}

/* A DICOM upload: its frame(s), and the reply (JSON, or the one DICOM object asked for). */
static void run_dicom(srv_request *r, api_image_ctx *ctx, double waited) {
    lgmsd_server *s = r->srv;
    api_dicom_result res;
    api_dicom_limits lim = {s->cfg->max_pixels, s->cfg->max_body_bytes, s->cfg->max_frames};
    if (api_segment_dicom(ctx, r->body, r->body_len, &lim, &r->opts, &res, &r->err)) {
        lgmsd_metrics_inference(waited, -1);
        return;
    }
    free(r->body); /* the upload is not needed past decoding: the object is held by res */
    r->body = NULL, r->body_len = 0;
    r->width = res.results[0].image.width, r->height = res.results[0].image.height;
    for (int i = 0; i < res.n; i++)
        r->inference_ms += res.results[i].t.inference;
    api_parallel par = api_image_ctx_parallel(ctx);
    r->out = api_dicom_reply(&res, api_image_ctx_meta(ctx), &r->opts, s->models[r->model_index].name, r->id, &par,
                             r->queue_ms, &r->out_len, &r->out_ctype, &r->err);
    api_dicom_result_free(&res);
    lgmsd_metrics_inference(waited, r->inference_ms / 1e3);
}

void lgmsd_run_image_task(lgmsd_task *t, void *local) {
    srv_request *r = (srv_request *)t;
    lgmsd_server *s = r->srv;
    worker_local *w = local;
    double waited = lgms_now() - t->enqueued_at;
    r->queue_ms = waited * 1e3;
    if (waited > s->cfg->request_timeout) {
        api_fail(&r->err, API_UNAVAILABLE, "the request waited %.1f s for a worker, longer than request_timeout = %d s",
                 waited, s->cfg->request_timeout);
        r->err.setting = "request_timeout";
        lgmsd_metrics_reject(LGMSD_REJECT_TIMEOUT);
        return;
    }
    if (r->form == FORM_JSON) { /* parsed here, off the loop thread */
        uint8_t *image;
        size_t len;
        if (api_json_form_parse((const char *)r->body, r->body_len, s->cfg->max_body_bytes, &r->opts, &image, &len,
                                &r->err))
            return;
        free(r->body);
        r->body = image, r->body_len = len;
    }
    api_image_ctx *ctx = w->img[r->model_index];
    if (r->dicom || api_dicom_detect(r->body, r->body_len)) {
        run_dicom(r, ctx, waited);
        return;
    }
    if (r->opts.want_dicom_seg || r->opts.want_dicom_sc) {
        api_fail(&r->err, API_UNPROCESSABLE, "the outputs dicom-seg and dicom-sc need a DICOM upload");
        return;
    }
    api_image_result res;
    if (api_segment_image(ctx, r->body, r->body_len, s->cfg->max_pixels, &r->opts, &res, &r->err)) {
        lgmsd_metrics_inference(waited, -1);
        return;
    }
    free(r->body); /* the upload is not needed past decoding */
    r->body = NULL, r->body_len = 0;
    r->width = res.image.width, r->height = res.image.height;
    r->inference_ms = res.t.inference;
    res.t.queue = r->queue_ms;
    api_parallel par = api_image_ctx_parallel(ctx);
    r->out = api_image_reply_json(&res, api_image_ctx_meta(ctx), &r->opts, s->models[r->model_index].name, r->id, &par,
                                  &r->out_len, &r->err);
    api_image_result_free(&res);
    lgmsd_metrics_inference(waited, r->inference_ms / 1e3);
}

lgms_state *lgmsd_worker_volume_state(void *local, int model_index) {
    return local ? ((worker_local *)local)->vol[model_index] : NULL;
}

void lgmsd_run_job_task(lgmsd_task *t, void *local) {
    lgmsd_job *job = (lgmsd_job *)t;
    worker_local *w = local;
    lgmsd_job_run(job, w->vol[job->model_index], local);
}
