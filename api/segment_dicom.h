/* segment_dicom.h - a DICOM image segmented: its frames (the first, the one asked for, or
 * all of them, one at a time) through the 2-D pipeline, each a result of its own, with the
 * object kept open for the SEG and secondary capture that reply.h may write from them. */
#ifndef LGMS_API_SEGMENT_DICOM_H
#define LGMS_API_SEGMENT_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "segment_image.h"

typedef struct {
    api_dicom *src;
    api_dicom_info info;
    int n;                     /* frames segmented */
    int *frames;               /* their 0-based numbers in the object */
    api_image_result *results; /* one per frame */
} api_dicom_result;

/* API_OK, or with e set: api_dicom_open's refusals, API_BAD_REQUEST (a frame the object
 * does not have), API_TOO_LARGE (more frames than lim->max_frames with frame=all), or a
 * frame's decoding or segmentation failure. */
api_status api_segment_dicom(api_image_ctx *ctx, const uint8_t *bytes, size_t len, const api_dicom_limits *lim,
                             const api_options *opts, api_dicom_result *r, api_error *e);
void api_dicom_result_free(api_dicom_result *r);

#endif
