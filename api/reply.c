/* reply.c - PNGs, JSON documents and files from pipeline results (see reply.h). */
#include "reply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "json.h"
#include "render.h"

void api_image_pngs_free(api_image_pngs *p) {
    free(p->mask.data), free(p->overlay.data), free(p->probabilities.data);
    memset(p, 0, sizeof *p);
}

static api_status encode(const uint8_t *px, int w, int h, int channels, const api_parallel *par, api_blob *out,
                         api_error *e) {
    if (api_png_encode_parallel(px, w, h, channels, par, &out->data, &out->len))
        return api_fail(e, API_INTERNAL, "encoding a result image failed");
    return API_OK;
}

api_status api_image_pngs_encode(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                                 const api_parallel *par, api_image_pngs *out, api_error *e) {
    memset(out, 0, sizeof *out);
    int w = r->image.width, h = r->image.height;
    uint8_t *scratch = malloc((size_t)w * h * 3);
    api_status st = API_OK;
    if (!scratch) return api_fail(e, API_INTERNAL, "out of memory for the result images");
    if (opts->want_mask) {
        api_mask_pixels(r->labels, w, h, mt->num_classes == 1, scratch);
        st = encode(scratch, w, h, 1, par, &out->mask, e);
    }
    if (!st && opts->want_overlay) {
        api_render_overlay(r->image.pixels, r->image.channels, r->labels, w, h, opts->alpha, scratch);
        st = encode(scratch, w, h, 3, par, &out->overlay, e);
    }
    if (!st && r->prob) st = encode(r->prob, w, h, 1, par, &out->probabilities, e);
    free(scratch);
    if (st) api_image_pngs_free(out);
    return st;
}

/* {"mime": "image/png", "base64": ...}, base64 in pieces on par's threads */
static json_t *png_object(const api_blob *b, const api_parallel *par) {
    char *b64 = malloc(api_base64_encoded_len(b->len) + 1);
    if (!b64) return NULL;
    api_base64_encode_parallel(b->data, b->len, b64, par);
    /* base64 is ASCII: no UTF-8 check needed */
    json_t *o = json_pack("{s:s, s:o}", "mime", "image/png", "base64",
                          json_stringn_nocheck(b64, api_base64_encoded_len(b->len)));
    free(b64);
    return o;
}

static json_t *classes_json(const api_image_result *r, const lgms_meta *mt) {
    json_t *arr = json_array();
    double total = (double)r->image.width * r->image.height;
    for (int c = 1; c < r->n_labels; c++) {
        const api_class_stats *s = &r->stats[c];
        json_t *bbox = s->pixels ? json_pack("{s:i, s:i, s:i, s:i}", "x", s->x0, "y", s->y0, "width", s->x1 - s->x0 + 1,
                                             "height", s->y1 - s->y0 + 1)
                                 : json_null();
        json_array_append_new(arr, json_pack("{s:i, s:s, s:I, s:o, s:o}", "id", c, "name", mt->class_names[c - 1],
                                             "pixels", (json_int_t)s->pixels, "fraction",
                                             api_json_round(s->pixels / total, 6), "bbox", bbox));
    }
    return arr;
}

static json_t *window_json(const api_window *w) {
    if (w->mode == API_WINDOW_NONE) return json_null();
    return json_pack("{s:o, s:o, s:s}", "center", api_json_round(w->center, 3), "width", api_json_round(w->width, 3),
                     "source", w->mode == API_WINDOW_AUTO ? "auto" : "request");
}

char *api_image_reply_json(api_image_result *r, const lgms_meta *mt, const api_options *opts, const char *model_name,
                           const char *request_id, const api_parallel *par, size_t *len, api_error *e) {
    double t0 = lgms_now();
    api_image_pngs pngs;
    if (api_image_pngs_encode(r, mt, opts, par, &pngs, e)) return NULL;
    json_t *reply = json_pack(
        "{s:s, s:s, s:i, s:i, s:o, s:o, s:{s:s, s:i, s:i}, s:o}", "request_id", request_id ? request_id : "", "model",
        model_name, "width", r->image.width, "height", r->image.height, "threshold", api_json_f32(r->threshold),
        "window", window_json(&r->window), "input", "format", r->image.format ? r->image.format : "", "bits",
        r->image.source_depth, "channels", r->image.channels, "classes", classes_json(r, mt));
    int ok = reply != NULL;
    const struct {
        const char *key;
        const api_blob *blob;
    } outs[] = {{"mask", &pngs.mask}, {"overlay", &pngs.overlay}, {"probabilities", &pngs.probabilities}};
    for (size_t i = 0; ok && i < sizeof outs / sizeof outs[0]; i++) {
        if (!outs[i].blob->data) continue;
        json_t *o = png_object(outs[i].blob, par);
        ok = o && !json_object_set_new(reply, outs[i].key, o);
    }
    api_image_pngs_free(&pngs);
    char *text = NULL;
    if (ok) {
        r->t.encode = (lgms_now() - t0) * 1e3;
        r->t.total = r->t.queue + r->t.decode + r->t.preprocess + r->t.inference + r->t.postprocess + r->t.encode;
        const api_timings *t = &r->t;
        ok = !json_object_set_new(
            reply, "timings_ms",
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "queue", api_json_round(t->queue, 2), "decode",
                      api_json_round(t->decode, 2), "preprocess", api_json_round(t->preprocess, 2), "inference",
                      api_json_round(t->inference, 2), "postprocess", api_json_round(t->postprocess, 2), "encode",
                      api_json_round(t->encode, 2), "total", api_json_round(t->total, 2)));
        text = ok ? api_json_dump(reply, len) : NULL;
    }
    json_decref(reply);
    if (!text) api_fail(e, API_INTERNAL, "building the reply failed");
    return text;
}

api_status api_write_file(const char *path, const void *data, size_t len, api_error *e) {
    FILE *f = fopen(path, "wb");
    if (!f) return api_fail(e, API_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    size_t n = fwrite(data, 1, len, f);
    int werr = n != len ? errno : 0;
    if (fclose(f) && !werr) werr = errno;
    if (n != len || werr) return api_fail(e, API_INTERNAL, "cannot write %s: %s", path, strerror(werr ? werr : EIO));
    return API_OK;
}

static api_status write_blob(const char *dir, const char *stem, const char *suffix, const api_blob *b, api_error *e) {
    if (!b->data) return API_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%s", dir, stem, suffix);
    return api_write_file(path, b->data, b->len, e);
}

api_status api_image_write_files(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                                 const char *dir, const char *stem, api_error *e) {
    api_image_pngs pngs;
    api_status st = api_image_pngs_encode(r, mt, opts, NULL, &pngs, e);
    if (!st) st = write_blob(dir, stem, "mask.png", &pngs.mask, e);
    if (!st) st = write_blob(dir, stem, "overlay.png", &pngs.overlay, e);
    if (!st) st = write_blob(dir, stem, "probabilities.png", &pngs.probabilities, e);
    api_image_pngs_free(&pngs);
    return st;
}

static json_t *file_json(const char *mime, const char *filename, const uint8_t *data, size_t len) {
    char *b64 = malloc(api_base64_encoded_len(len) + 1);
    if (!b64) return NULL;
    api_base64_encode(data, len, b64);
    json_t *o = json_pack("{s:s, s:s, s:o}", "mime", mime, "filename", filename, "base64",
                          json_stringn_nocheck(b64, api_base64_encoded_len(len)));
    free(b64);
    return o;
}

char *api_volume_result_json(const api_volume_result *r, const lgms_meta *mt, size_t *len) {
    json_t *classes = json_array();
    for (int c = 1; c < r->n_labels; c++)
        json_array_append_new(classes,
                              json_pack("{s:i, s:s, s:I, s:o}", "id", c, "name", mt->class_names[c - 1], "voxels",
                                        (json_int_t)r->voxels[c], "ml", api_json_round(r->ml[c], 2)));
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:{s:[i,i,i], s:[o,o,o], s:s?, s:[i,i,i], s:s?}, s:i, s:o}", "labels",
                  file_json("application/gzip", "labels.nii.gz", r->nifti, r->nifti_len), "montage",
                  file_json("image/png", "montage.png", r->montage, r->montage_len), "classes", classes, "grid", "size",
                  r->nx, r->ny, r->nz, "spacing_mm", api_json_round(r->spacing[0], 6), api_json_round(r->spacing[1], 6),
                  api_json_round(r->spacing[2], 6), "axes", r->axes[0] ? r->axes : NULL, "model_grid", r->model_grid[0],
                  r->model_grid[1], r->model_grid[2], "model_axes", r->model_axes[0] ? r->model_axes : NULL, "patches",
                  r->patches, "seconds", api_json_round(r->seconds, 2));
    char *text = api_json_dump(o, len);
    json_decref(o);
    return text;
}

api_status api_volume_write_files(const api_volume_result *r, const char *dir, const char *stem, api_error *e) {
    api_blob labels = {r->nifti, r->nifti_len}, montage = {r->montage, r->montage_len};
    api_status st = write_blob(dir, stem, "labels.nii.gz", &labels, e);
    return st ? st : write_blob(dir, stem, "montage.png", &montage, e);
}
