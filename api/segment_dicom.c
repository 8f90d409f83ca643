/* segment_dicom.c - the frames of a DICOM image through the 2-D pipeline. */
#include "segment_dicom.h"

#include <stdlib.h>
#include <string.h>

void api_dicom_result_free(api_dicom_result *r) {
    for (int i = 0; i < r->n; i++)
        api_image_result_free(&r->results[i]);
    free(r->results), free(r->frames);
    api_dicom_close(r->src);
    memset(r, 0, sizeof *r);
}

api_status api_segment_dicom(api_image_ctx *ctx, const uint8_t *bytes, size_t len, const api_dicom_limits *lim,
                             const api_options *opts, api_dicom_result *r, api_error *e) {
    int max_frames = lim->max_frames;
    memset(r, 0, sizeof *r);
    double t0 = lgms_now();
    api_status st = api_dicom_open(bytes, len, lim, &r->src, &r->info, e);
    if (st) return st;
    int total = r->info.frames, first = opts->frame > 0 ? opts->frame - 1 : 0;
    int n = opts->frame == API_FRAME_ALL ? total : 1;
    if (first >= total) {
        api_dicom_result_free(r);
        return api_fail(e, API_BAD_REQUEST, "frame %d asked; the object has %d frame(s)", opts->frame, total);
    }
    if (n > max_frames) {
        api_dicom_result_free(r);
        return api_fail_limit(e, "max_frames", "the object has %d frames; max_frames = %d", total, max_frames);
    }
    r->frames = calloc((size_t)n, sizeof *r->frames);
    r->results = calloc((size_t)n, sizeof *r->results);
    if (!r->frames || !r->results) {
        api_dicom_result_free(r);
        return api_fail(e, API_INTERNAL, "out of memory for %d frames", n);
    }
    for (int i = 0; i < n; i++) {
        int f = opts->frame == API_FRAME_ALL ? i : first;
        api_window win = opts->window;
        api_image img;
        double t1 = lgms_now();
        st = api_dicom_frame(r->src, f, &win, &img, e);
        double decode = (lgms_now() - (i ? t1 : t0)) * 1e3;
        if (!st) st = api_segment_decoded(ctx, &img, opts, &win, &r->results[i], e);
        if (st) {
            api_image_free(&img);
            api_dicom_result_free(r);
            return st;
        }
        r->results[i].t.decode = decode;
        r->frames[i] = f;
        r->n = i + 1;
    }
    return API_OK;
}
