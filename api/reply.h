/* reply.h - results into what leaves the process. One module for both pipelines and both
 * front ends: an image result becomes mask / overlay / probability PNGs, then either the
 * daemon's JSON reply (PNGs in base64) or files (the command line); a volume result
 * becomes the "result" object of its job, or files. */
#ifndef LGMS_API_REPLY_H
#define LGMS_API_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lgms.h"
#include "options.h"
#include "parallel.h"
#include "segment_dicom.h"
#include "segment_image.h"
#include "segment_volume.h"
#include "status.h"

typedef struct {
    uint8_t *data;
    size_t len;
} api_blob;

/* The PNGs opts asks for (NULL data for the others), deflated on par's threads (par NULL:
 * serially). The mask is 8-bit grey: 0/255 for a one-class model, else the class id; the
 * overlay is the input in RGB with the labels blended at opts->alpha and outlined. */
typedef struct {
    api_blob mask, overlay, probabilities;
} api_image_pngs;
api_status api_image_pngs_encode(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                                 const api_parallel *par, api_image_pngs *out, api_error *e);
void api_image_pngs_free(api_image_pngs *p);

/* The JSON reply to a segmentation request (malloc'ed text, length in *len): the result,
 * its PNGs in base64 (encoded here, on par's threads), class statistics and timings.
 * r->t.queue is the caller's; encode and total are filled in here. */
char *api_image_reply_json(api_image_result *r, const lgms_meta *mt, const api_options *opts, const char *model_name,
                           const char *request_id, const api_parallel *par, size_t *len, api_error *e);

/* The reply to a DICOM upload. JSON: the image reply of its frame (with area_mm2 per class
 * when the object gives a pixel spacing), or for frame=all "frames" holding one per frame;
 * "dicom" (UIDs, modality, frames, photometric interpretation, transfer syntax, spacing:
 * nothing that identifies the patient); and the DICOM outputs opts asks for in base64
 * ("dicom_seg", "dicom_sc"). When opts->raw_dicom and exactly one DICOM output is asked
 * for, that object itself (*ctype application/dicom). malloc'ed; NULL with e set. */
char *api_dicom_reply(api_dicom_result *r, const lgms_meta *mt, const api_options *opts, const char *model_name,
                      const char *request_id, const api_parallel *par, double queue_ms, size_t *len, const char **ctype,
                      api_error *e);
/* The same into files: DIR/STEM[_frameNNN]_mask.png etc., DIR/STEM_seg.dcm, DIR/STEM_overlay.dcm. */
api_status api_dicom_write_files(api_dicom_result *r, const lgms_meta *mt, const api_options *opts,
                                 const char *model_name, const char *dir, const char *stem, api_error *e);

/* DIR/STEM_mask.png, DIR/STEM_overlay.png (and DIR/STEM_probabilities.png) as opts asks. */
api_status api_image_write_files(const api_image_result *r, const lgms_meta *mt, const api_options *opts,
                                 const char *dir, const char *stem, api_error *e);

/* The "result" object of a finished volume job (labels and montage in base64, classes,
 * grid, patches, seconds) as JSON text, built once by the worker. */
char *api_volume_result_json(const api_volume_result *r, const lgms_meta *mt, size_t *len);
/* DIR/STEM_labels.nii.gz and DIR/STEM_montage.png. */
api_status api_volume_write_files(const api_volume_result *r, const char *dir, const char *stem, api_error *e);

/* Write bytes to path (replacing it), every byte checked. */
api_status api_write_file(const char *path, const void *data, size_t len, api_error *e);

#endif
