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

typedef struct {
    const api_image_result *r;
    int one_class;
    float alpha;
} draw_args;

static void draw_mask(const void *arg, int y0, int y1, uint8_t *out) {
    const draw_args *d = arg;
    api_mask_rows(d->r->labels, d->r->image.width, d->one_class, y0, y1, out);
}

static void draw_overlay(const void *arg, int y0, int y1, uint8_t *out) {
    const draw_args *d = arg;
    const api_image_result *r = d->r;
    api_render_overlay_rows(r->image.pixels, r->image.channels, r->labels, r->image.width, r->image.height, d->alpha,
                            y0, y1, out);
}

api_status api_image_pngs_encode(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                                 const api_parallel *par, api_image_pngs *out, api_error *e) {
    memset(out, 0, sizeof *out);
    int w = r->image.width, h = r->image.height, n = 0;
    draw_args args = {r, mt->num_classes == 1, opts->alpha};
    api_png_job jobs[3];
    api_blob *blobs[3];
    if (opts->want_mask) {
        blobs[n] = &out->mask;
        jobs[n++] = (api_png_job){.width = w, .height = h, .channels = 1, .draw = draw_mask, .arg = &args};
    }
    if (opts->want_overlay) {
        blobs[n] = &out->overlay;
        jobs[n++] = (api_png_job){.width = w, .height = h, .channels = 3, .draw = draw_overlay, .arg = &args};
    }
    if (r->prob) {
        blobs[n] = &out->probabilities;
        jobs[n++] = (api_png_job){.width = w, .height = h, .channels = 1, .pixels = r->prob};
    }
    if (api_png_encode_jobs(jobs, n, par)) return api_fail(e, API_INTERNAL, "encoding a result image failed");
    for (int i = 0; i < n; i++)
        blobs[i]->data = jobs[i].png, blobs[i]->len = jobs[i].len;
    return API_OK;
}

static json_t *file_json(const char *mime, const char *filename, const uint8_t *data, size_t len);

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

static json_t *classes_json(const api_image_result *r, const lgms_meta *mt, const double *spacing) {
    json_t *arr = json_array();
    double total = (double)r->image.width * r->image.height;
    for (int c = 1; c < r->n_labels; c++) {
        const api_class_stats *s = &r->stats[c];
        json_t *bbox = s->pixels ? json_pack("{s:i, s:i, s:i, s:i}", "x", s->x0, "y", s->y0, "width", s->x1 - s->x0 + 1,
                                             "height", s->y1 - s->y0 + 1)
                                 : json_null();
        json_t *o = json_pack("{s:i, s:s, s:I, s:o, s:o}", "id", c, "name", mt->class_names[c - 1], "pixels",
                              (json_int_t)s->pixels, "fraction", api_json_round(s->pixels / total, 6), "bbox", bbox);
        if (o && spacing) json_object_set_new(o, "area_mm2", api_json_round(s->pixels * spacing[0] * spacing[1], 3));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *window_json(const api_window *w) {
    static const char *source[] = {"none", "auto", "request", "stored", "voi-lut"};
    if (w->mode == API_WINDOW_NONE) return json_null();
    json_t *o = json_pack("{s:s}", "source", source[w->mode]);
    if (o && w->mode != API_WINDOW_VOI_LUT) {
        json_object_set_new(o, "center", api_json_round(w->center, 3));
        json_object_set_new(o, "width", api_json_round(w->width, 3));
    }
    return o;
}

/* One image's fields: size, threshold, window, input, classes and the PNGs opts asks for
 * (deflated and base64-encoded on par's threads). NULL with e set on failure. */
static json_t *frame_json(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                          const api_parallel *par, const double *spacing, api_error *e) {
    api_image_pngs pngs;
    if (api_image_pngs_encode(r, mt, opts, par, &pngs, e)) return NULL;
    json_t *o = json_pack("{s:i, s:i, s:o, s:o, s:{s:s, s:i, s:i}, s:o}", "width", r->image.width, "height",
                          r->image.height, "threshold", api_json_f32(r->threshold), "window", window_json(&r->window),
                          "input", "format", r->image.format ? r->image.format : "", "bits", r->image.source_depth,
                          "channels", r->image.channels, "classes", classes_json(r, mt, spacing));
    int ok = o != NULL;
    const struct {
        const char *key;
        const api_blob *blob;
    } outs[] = {{"mask", &pngs.mask}, {"overlay", &pngs.overlay}, {"probabilities", &pngs.probabilities}};
    for (size_t i = 0; ok && i < sizeof outs / sizeof outs[0]; i++) {
        if (!outs[i].blob->data) continue;
        json_t *p = png_object(outs[i].blob, par);
        ok = p && !json_object_set_new(o, outs[i].key, p);
    }
    api_image_pngs_free(&pngs);
    if (!ok) {
        json_decref(o);
        api_fail(e, API_INTERNAL, "building the reply failed");
        return NULL;
    }
    return o;
}

static json_t *timings_json(const api_timings *t) {
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "queue", api_json_round(t->queue, 2), "decode",
                     api_json_round(t->decode, 2), "preprocess", api_json_round(t->preprocess, 2), "inference",
                     api_json_round(t->inference, 2), "postprocess", api_json_round(t->postprocess, 2), "encode",
                     api_json_round(t->encode, 2), "total", api_json_round(t->total, 2));
}

static void finish_timings(api_timings *t, double encode_ms) {
    t->encode = encode_ms;
    t->total = t->queue + t->decode + t->preprocess + t->inference + t->postprocess + t->encode;
}

char *api_image_reply_json(api_image_result *r, const lgms_meta *mt, const api_options *opts, const char *model_name,
                           const char *request_id, const api_parallel *par, size_t *len, api_error *e) {
    double t0 = lgms_now();
    json_t *reply = frame_json(r, mt, opts, par, NULL, e);
    if (!reply) return NULL;
    json_object_set_new(reply, "request_id", json_string(request_id ? request_id : ""));
    json_object_set_new(reply, "model", json_string(model_name));
    finish_timings(&r->t, (lgms_now() - t0) * 1e3);
    json_object_set_new(reply, "timings_ms", timings_json(&r->t));
    char *text = api_json_dump(reply, len);
    json_decref(reply);
    if (!text) api_fail(e, API_INTERNAL, "building the reply failed");
    return text;
}

/* ---------------------------------------------------------------- DICOM */

static api_dicom_maker maker_of(const lgms_meta *mt, const char *model_name, const char *labels[LGMS_MAX_CLASSES]) {
    int n = lgms_label_count(mt) - 1;
    for (int c = 0; c < n; c++)
        labels[c] = mt->class_names[c];
    return (api_dicom_maker){model_name, mt->name, labels, n};
}

/* The SEG and the secondary capture opts asks for. */
static api_status dicom_outputs(api_dicom_result *r, const lgms_meta *mt, const api_options *opts,
                                const char *model_name, api_blob *seg, api_blob *sc, api_error *e) {
    memset(seg, 0, sizeof *seg), memset(sc, 0, sizeof *sc);
    const char *names[LGMS_MAX_CLASSES];
    api_dicom_maker maker = maker_of(mt, model_name, names);
    const uint8_t **planes = calloc((size_t)r->n, sizeof *planes);
    uint8_t *rgb = NULL;
    api_status st = planes ? API_OK : api_fail(e, API_INTERNAL, "out of memory");
    if (!st && opts->want_dicom_seg) {
        for (int i = 0; i < r->n; i++)
            planes[i] = r->results[i].labels;
        st = api_dicom_seg(r->src, r->frames, planes, r->n, &maker, &seg->data, &seg->len, e);
    }
    if (!st && opts->want_dicom_sc) {
        size_t plane = (size_t)r->info.rows * r->info.columns * 3;
        rgb = malloc(plane * (size_t)r->n);
        if (!rgb) st = api_fail(e, API_INTERNAL, "out of memory for the overlays");
        for (int i = 0; !st && i < r->n; i++) {
            const api_image_result *f = &r->results[i];
            api_render_overlay(f->image.pixels, f->image.channels, f->labels, f->image.width, f->image.height,
                               opts->alpha, rgb + plane * i);
            planes[i] = rgb + plane * i;
        }
        if (!st) st = api_dicom_sc(r->src, r->frames, planes, r->n, &maker, &sc->data, &sc->len, e);
    }
    free(planes), free(rgb);
    if (st) free(seg->data), free(sc->data), seg->data = sc->data = NULL;
    return st;
}

static json_t *dicom_info_json(const api_dicom_info *i) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s}, s:i, s:i, s:i}", "study_uid", i->study_uid,
                          "series_uid", i->series_uid, "sop_instance_uid", i->sop_uid, "sop_class_uid",
                          i->sop_class_uid, "modality", i->modality, "frames", i->frames, "photometric", i->photometric,
                          "transfer_syntax", "uid", i->transfer_syntax, "name", i->transfer_syntax_name, "rows",
                          i->rows, "columns", i->columns, "bits_stored", i->bits_stored);
    if (o && i->has_spacing)
        json_object_set_new(o, "pixel_spacing_mm",
                            json_pack("[o,o]", api_json_round(i->spacing[0], 6), api_json_round(i->spacing[1], 6)));
    return o;
}

char *api_dicom_reply(api_dicom_result *r, const lgms_meta *mt, const api_options *opts, const char *model_name,
                      const char *request_id, const api_parallel *par, double queue_ms, size_t *len, const char **ctype,
                      api_error *e) {
    double t0 = lgms_now();
    api_blob seg, sc;
    *ctype = "application/json";
    if (dicom_outputs(r, mt, opts, model_name, &seg, &sc, e)) return NULL;
    if (opts->raw_dicom && (opts->want_dicom_seg + opts->want_dicom_sc) == 1) { /* the object is the body */
        *ctype = "application/dicom";
        *len = seg.data ? seg.len : sc.len;
        return (char *)(seg.data ? seg.data : sc.data);
    }
    const double *spacing = r->info.has_spacing ? r->info.spacing : NULL;
    json_t *reply = NULL;
    int e_set = 0; /* frame_json filled e */
    api_timings sum = {.queue = queue_ms};
    if (opts->frame != API_FRAME_ALL) {
        reply = frame_json(&r->results[0], mt, opts, par, spacing, e);
        e_set = !reply;
    } else {
        const api_image_result *f0 = &r->results[0];
        reply = json_pack("{s:i, s:i, s:o, s:{s:s, s:i, s:i}, s:[]}", "width", f0->image.width, "height",
                          f0->image.height, "threshold", api_json_f32(f0->threshold), "input", "format", "dicom",
                          "bits", f0->image.source_depth, "channels", f0->image.channels, "frames");
        for (int i = 0; reply && i < r->n; i++) {
            json_t *f = frame_json(&r->results[i], mt, opts, par, spacing, e);
            if (!f) {
                json_decref(reply);
                reply = NULL;
                e_set = 1;
                break;
            }
            json_object_set_new(f, "frame", json_integer(r->frames[i] + 1));
            json_array_append_new(json_object_get(reply, "frames"), f);
        }
    }
    for (int i = 0; i < r->n; i++) {
        const api_timings *t = &r->results[i].t;
        sum.decode += t->decode, sum.preprocess += t->preprocess, sum.inference += t->inference;
        sum.postprocess += t->postprocess;
    }
    int ok = reply != NULL;
    if (ok) {
        json_object_set_new(reply, "request_id", json_string(request_id ? request_id : ""));
        json_object_set_new(reply, "model", json_string(model_name));
        json_object_set_new(reply, "dicom", dicom_info_json(&r->info));
        const struct {
            const char *key, *filename;
            api_blob *blob;
        } outs[] = {{"dicom_seg", "seg.dcm", &seg}, {"dicom_sc", "overlay.dcm", &sc}};
        for (size_t i = 0; ok && i < 2; i++)
            if (outs[i].blob->data) {
                json_t *f = file_json("application/dicom", outs[i].filename, outs[i].blob->data, outs[i].blob->len);
                ok = f && !json_object_set_new(reply, outs[i].key, f);
            }
    }
    free(seg.data), free(sc.data);
    char *text = NULL;
    if (ok) {
        finish_timings(&sum, (lgms_now() - t0) * 1e3);
        json_object_set_new(reply, "timings_ms", timings_json(&sum));
        text = api_json_dump(reply, len);
    }
    json_decref(reply);
    if (!text && !e_set) api_fail(e, API_INTERNAL, "building the reply failed");
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

api_status api_dicom_write_files(api_dicom_result *r, const lgms_meta *mt, const api_options *opts,
                                 const char *model_name, const char *dir, const char *stem, api_error *e) {
    api_status st = API_OK;
    for (int i = 0; !st && i < r->n; i++) {
        char name[1100];
        if (r->n > 1 || r->info.frames > 1)
            snprintf(name, sizeof name, "%s_frame%03d", stem, r->frames[i] + 1);
        else
            snprintf(name, sizeof name, "%s", stem);
        st = api_image_write_files(&r->results[i], mt, opts, dir, name, e);
    }
    api_blob seg, sc;
    if (!st) st = dicom_outputs(r, mt, opts, model_name, &seg, &sc, e);
    if (!st) st = write_blob(dir, stem, "seg.dcm", &seg, e);
    if (!st) st = write_blob(dir, stem, "overlay.dcm", &sc, e);
    if (!st) free(seg.data), free(sc.data);
    return st;
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
