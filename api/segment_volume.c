/* segment_volume.c - the volume pipeline (see segment_volume.h). Memory per job: the input volume as
 * float, the resampled volume, K logit volumes at the model grid (the largest part:
 * K x voxels x 4 bytes), the label volumes and one engine state for 96^3 patches. */
#include "segment_volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/sliding.h"
#include "image.h"
#include "nifti.h"
#include "orient.h"
#include "render.h"

typedef struct {
    lgms_state *st;
    const lgms_meta *mt;
    api_volume_progress progress;
    void *arg;
    int cancelled;
    char err[256]; /* why the engine failed */
} patch_ctx;

/* The network on one patch; refuses once the job was cancelled. */
static int run_patch(void *p, const float *in, float *out) {
    patch_ctx *c = p;
    if (c->cancelled) return -1;
    if (lgms_forward3d(c->st, in, 1, c->mt->input_depth, c->mt->input_height, c->mt->input_width, out, c->err,
                       sizeof c->err))
        return -1;
    return 0;
}

static void on_patch(void *p, int done, int total) {
    patch_ctx *c = p;
    if (c->progress && c->progress(c->arg, done, total)) c->cancelled = 1;
}

/* 2 x 2 montage of the axial slices with the most foreground, one per quarter of the
 * volume's depth, CT shown with the model's window, labels coloured. */
static int render_montage(const api_volume *v, const uint8_t *labels, float a_min, float a_max, uint8_t **png,
                          size_t *png_len) {
    int w = v->nx, h = v->ny, d = v->nz;
    size_t plane = (size_t)w * h;
    uint8_t *grey = malloc(plane), *lab = malloc(plane), *tile = malloc(plane * 3), *img = malloc(plane * 12);
    int rc = -1;
    if (!grey || !lab || !tile || !img) goto out;
    for (int q = 0; q < 4; q++) {
        int z0 = d * q / 4, z1 = d * (q + 1) / 4, best = z0 < d ? z0 : d - 1;
        size_t best_n = 0;
        for (int z = z0; z < z1; z++) {
            size_t n = 0;
            for (size_t i = 0; i < plane; i++)
                n += labels[(size_t)z * plane + i] != 0;
            if (n > best_n) best_n = n, best = z;
        }
        /* rows flipped so that +y is up */
        for (int y = 0; y < h; y++) {
            size_t src = (size_t)best * plane + (size_t)(h - 1 - y) * w;
            memcpy(lab + (size_t)y * w, labels + src, (size_t)w);
            for (int x = 0; x < w; x++) {
                float t = (v->data[src + x] - a_min) / (a_max - a_min);
                grey[(size_t)y * w + x] = (uint8_t)(t < 0 ? 0 : t > 1 ? 255 : t * 255.0f + 0.5f);
            }
        }
        api_render_overlay(grey, 1, lab, w, h, 0.4f, tile);
        int ox = (q % 2) * w, oy = (q / 2) * h;
        for (int y = 0; y < h; y++)
            memcpy(img + (((size_t)(oy + y) * 2 * w) + ox) * 3, tile + (size_t)y * w * 3, (size_t)w * 3);
    }
    rc = api_png_encode(img, 2 * w, 2 * h, 3, png, png_len);
out:
    free(grey), free(lab), free(tile), free(img);
    return rc;
}

/* "LPS"-style letters for where the stored axes point ("" when unknown). */
static void axes_name(const int *codes, char name[4]) {
    static const char letter[7] = {'?', 'R', 'L', 'A', 'P', 'S', 'I'}; /* NIFTI_L2R .. NIFTI_S2I */
    name[0] = 0;
    if (!codes) return;
    for (int a = 0; a < 3; a++)
        name[a] = codes[a] >= 1 && codes[a] <= 6 ? letter[codes[a]] : '?';
    name[3] = 0;
}

/* The sliding window over a grid for this model (callbacks unset). */
static lgms_sliding_window window_of(const lgms_meta *mt) {
    return (lgms_sliding_window){.channels = 1,
                                 .classes = mt->num_classes,
                                 .rd = mt->input_depth,
                                 .rh = mt->input_height,
                                 .rw = mt->input_width,
                                 .overlap = mt->overlap,
                                 .gaussian = mt->blend_gaussian};
}

/* The plan from the header: the turn to RAS+ when the model asks and the header says where
 * the axes point (else the stored order), the network's grid at the model's spacing, the
 * patches, and the limits. n and sp receive the dims and spacing in the network's order. */
static api_status plan_volume(const lgms_meta *mt, const api_nifti_info *info, const api_volume_limits *lim,
                              api_volume_plan *plan, api_orient *orient, int n[3], double sp[3], api_error *e) {
    memset(plan, 0, sizeof *plan);
    if (mt->spatial_dims != 3)
        return api_fail(e, API_UNPROCESSABLE, "model %s is 2-D; volumes need a 3-D model", mt->name);
    if (mt->in_channels != 1)
        return api_fail(e, API_UNPROCESSABLE, "model %s takes %d channels; a CT volume has one", mt->name,
                        mt->in_channels);
    plan->axes_known = !api_orient_plan(info->axis_codes, orient);
    plan->turn = mt->orient_ras && plan->axes_known && !api_orient_is_identity(orient);
    if (!plan->turn) *orient = (api_orient){{0, 1, 2}, {0, 0, 0}};
    plan->stored[0] = info->nx, plan->stored[1] = info->ny, plan->stored[2] = info->nz;
    api_orient_dims(orient, plan->stored, n);
    uint64_t grid = 1;
    for (int a = 0; a < 3; a++) {
        sp[a] = info->spacing[orient->src[a]];
        plan->grid[a] = lgms_resampled_size(n[a], sp[a], mt->spacing[a]);
        if (plan->grid[a] < 0 || __builtin_mul_overflow(grid, (uint64_t)plan->grid[a], &grid)) grid = UINT64_MAX;
    }
    if (grid > lim->max_grid_voxels)
        return api_fail_limit(e, "max_grid_voxels",
                              "a %dx%dx%d volume at %.3gx%.3gx%.3g mm becomes %llu voxels at the model's "
                              "%.3gx%.3gx%.3g mm; max_grid_voxels = %llu",
                              info->nx, info->ny, info->nz, info->spacing[0], info->spacing[1], info->spacing[2],
                              grid == UINT64_MAX ? 0ull : (unsigned long long)grid, mt->spacing[0], mt->spacing[1],
                              mt->spacing[2], (unsigned long long)lim->max_grid_voxels);
    plan->grid_voxels = grid;
    lgms_sliding_window sw = window_of(mt);
    plan->patches = lgms_sliding_patches(&sw, plan->grid[2], plan->grid[1], plan->grid[0]);
    if (plan->patches > lim->max_patches)
        return api_fail_limit(e, "max_patches", "the volume needs %d sliding-window patches; max_patches = %d",
                              plan->patches, lim->max_patches);
    /* input as float (twice when turned), the resampled grid, K logit grids, labels */
    plan->bytes = info->voxels * (plan->turn ? 10 : 5) + grid * (4 * ((uint64_t)mt->num_classes + 1) + 1) +
                  sizeof(float) * lgms_sliding_scratch(&sw, plan->grid[2], plan->grid[1], plan->grid[0]);
    return API_OK;
}

api_status api_volume_check(const lgms_meta *mt, const uint8_t *bytes, size_t len, const api_volume_limits *lim,
                            api_volume_plan *plan, api_error *e) {
    api_nifti_info info;
    api_orient orient;
    int n[3];
    double sp[3];
    api_status st = api_nifti_probe(bytes, len, lim->max_voxels, &info, e);
    return st ? st : plan_volume(mt, &info, lim, plan, &orient, n, sp, e);
}

api_status api_volume_prepare(const lgms_meta *mt, const uint8_t *bytes, size_t len, const api_volume_limits *lim,
                              api_volume_input *in, api_error *e) {
    memset(in, 0, sizeof *in);
    api_nifti_info info;
    double sp[3];
    api_status st = api_nifti_probe(bytes, len, lim->max_voxels, &info, e);
    if (!st) st = plan_volume(mt, &info, lim, &in->plan, &in->orient, in->n, sp, e);
    if (!st) st = api_nifti_read(bytes, len, lim->max_voxels, &in->v, e);
    if (st) return st;
    const api_volume_plan *p = &in->plan;
    size_t vox = (size_t)info.voxels;
    float *turned = p->turn ? malloc(sizeof(float) * vox) : NULL;
    in->grid = malloc(sizeof(float) * (size_t)p->grid_voxels);
    if (!in->grid || (p->turn && !turned)) {
        free(turned);
        api_volume_input_free(in);
        return api_fail(e, API_INTERNAL, "out of memory for a %dx%dx%d grid", p->grid[0], p->grid[1], p->grid[2]);
    }
    if (p->turn) api_orient_to_ras(&in->orient, in->v.data, p->stored, turned);
    lgms_resample_linear(p->turn ? turned : in->v.data, 1, in->n[2], in->n[1], in->n[0], in->grid, p->grid[2],
                         p->grid[1], p->grid[0]);
    free(turned);
    lgms_intensity_window(in->grid, (size_t)p->grid_voxels, mt->a_min, mt->a_max);
    return API_OK;
}

void api_volume_input_free(api_volume_input *in) {
    api_volume_free(&in->v);
    free(in->grid);
    in->grid = NULL;
}

api_status api_segment_volume(lgms_state *st, const lgms_model *m, const uint8_t *bytes, size_t len,
                              const api_volume_limits *lim, api_volume_progress progress, void *progress_arg,
                              api_volume_result *out, api_error *e) {
    memset(out, 0, sizeof *out);
    const lgms_meta *mt = lgms_model_meta(m);
    double t0 = lgms_now();
    api_volume_input in;
    api_status status = api_volume_prepare(mt, bytes, len, lim, &in, e);
    if (status) return status;
    const api_volume_plan *plan = &in.plan;
    const api_volume *v = &in.v;
    int turn = plan->turn;
    axes_name(plan->axes_known ? v->axis_codes : NULL, out->axes);
    if (turn)
        memcpy(out->model_axes, "RAS", 4);
    else
        memcpy(out->model_axes, out->axes, 4);
    int ow = plan->grid[0], oh = plan->grid[1], od = plan->grid[2];
    size_t grid = (size_t)plan->grid_voxels, vox = (size_t)v->nx * v->ny * v->nz;
    int k = mt->num_classes;
    lgms_sliding_window sw = window_of(mt);
    patch_ctx pc = {st, mt, progress, progress_arg, 0, ""};
    sw.run = run_patch, sw.progress = on_patch, sw.ctx = &pc;
    float *logits = malloc(sizeof(float) * grid * (size_t)k);
    float *scratch = malloc(sizeof(float) * lgms_sliding_scratch(&sw, od, oh, ow));
    uint8_t *lab_grid = malloc(grid), *labels = malloc(vox), *lab_turned = turn ? malloc(vox) : NULL;
    if (!logits || !scratch || !lab_grid || !labels || (turn && !lab_turned)) {
        status = api_fail(e, API_INTERNAL, "out of memory for a %dx%dx%d volume (%d classes)", ow, oh, od, k);
        goto out;
    }
    out->patches = plan->patches;
    if (lgms_sliding_run(&sw, in.grid, od, oh, ow, logits, scratch)) {
        status = pc.cancelled ? api_fail(e, API_CANCELLED, "cancelled")
                              : api_fail(e, API_INTERNAL, "the network failed: %s", pc.err);
        goto out;
    }
    lgms_argmax_planes(logits, k, grid, mt->threshold, lab_grid);
    free(logits), logits = NULL;
    lgms_resample_nearest(lab_grid, od, oh, ow, turn ? lab_turned : labels, in.n[2], in.n[1], in.n[0]);
    if (turn) api_orient_labels_back(&in.orient, lab_turned, plan->stored, labels);
    out->n_labels = lgms_label_count(mt);
    for (size_t i = 0; i < vox; i++)
        out->voxels[labels[i] < out->n_labels ? labels[i] : 0]++;
    double voxel_ml = v->spacing[0] * v->spacing[1] * v->spacing[2] / 1000.0;
    for (int c = 0; c < out->n_labels; c++)
        out->ml[c] = (double)out->voxels[c] * voxel_ml;
    status = api_nifti_write_labels(v, labels, &out->nifti, &out->nifti_len, e);
    if (status) goto out;
    if (render_montage(v, labels, mt->a_min, mt->a_max, &out->montage, &out->montage_len)) {
        status = api_fail(e, API_INTERNAL, "cannot render the montage");
        goto out;
    }
    out->nx = v->nx, out->ny = v->ny, out->nz = v->nz;
    memcpy(out->spacing, v->spacing, sizeof out->spacing);
    out->model_grid[0] = ow, out->model_grid[1] = oh, out->model_grid[2] = od;
out:
    free(logits), free(scratch), free(lab_grid), free(labels), free(lab_turned);
    api_volume_input_free(&in);
    out->seconds = lgms_now() - t0;
    if (status) api_volume_result_free(out);
    return status;
}

void api_volume_result_free(api_volume_result *r) {
    free(r->nifti);
    free(r->montage);
    r->nifti = r->montage = NULL;
    r->nifti_len = r->montage_len = 0;
}
