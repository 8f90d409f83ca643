/* options.h - per-request segmentation options, from the query string, form fields or
 * JSON keys: threshold, alpha, overlay, outputs, window, frame. */
#ifndef LGMS_API_OPTIONS_H
#define LGMS_API_OPTIONS_H

#include <stddef.h>

#include "status.h"

/* An intensity window mapped onto 0..255 before the model's normalisation (the DICOM
 * linear rule: center C, width W). A request asks for NONE, AUTO (the image's own
 * min..max) or SET; a DICOM decode may also report the object's own STORED window or
 * VOI_LUT. */
typedef enum {
    API_WINDOW_NONE = 0,
    API_WINDOW_AUTO,
    API_WINDOW_SET,
    API_WINDOW_STORED,
    API_WINDOW_VOI_LUT
} api_window_mode;
typedef struct {
    api_window_mode mode;
    double center, width; /* API_WINDOW_SET: as asked; after api_image_apply_window: as applied */
} api_window;

#define API_FRAME_ALL (-1)

typedef struct {
    int has_threshold;
    float threshold; /* probability threshold for a one-class model, in (0, 1) */
    float alpha;     /* overlay opacity in [0, 1] */
    int want_mask, want_overlay, want_probabilities;
    int want_dicom_seg, want_dicom_sc; /* DICOM uploads: a Segmentation, a secondary capture */
    api_window window;
    int frame;     /* DICOM uploads: the 1-based frame, 0 for the first, API_FRAME_ALL for every frame */
    int raw_dicom; /* the client accepts application/dicom: send the one DICOM output as the body */
} api_options;

void api_options_init(api_options *o);
/* Set one option from text: API_OK, or API_BAD_REQUEST with e set (unknown key, bad value). */
api_status api_options_set(api_options *o, const char *key, const char *value, api_error *e);
/* Parse a window: "auto", "none", or "C,W" (W >= 1). */
api_status api_window_parse(const char *text, api_window *w, api_error *e);

#endif
