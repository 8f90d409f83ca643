/* options.h - per-request segmentation options, from the query string, form fields or
 * JSON keys: threshold, alpha, overlay, outputs, window. */
#ifndef LGMS_API_OPTIONS_H
#define LGMS_API_OPTIONS_H

#include <stddef.h>

#include "status.h"

/* An intensity window mapped onto 0..255 before the model's normalisation (the DICOM
 * linear rule: center C, width W). auto = the image's own min..max. */
typedef enum { API_WINDOW_NONE = 0, API_WINDOW_AUTO, API_WINDOW_SET } api_window_mode;
typedef struct {
    api_window_mode mode;
    double center, width; /* API_WINDOW_SET: as asked; after api_image_apply_window: as applied */
} api_window;

typedef struct {
    int has_threshold;
    float threshold; /* probability threshold for a one-class model, in (0, 1) */
    float alpha;     /* overlay opacity in [0, 1] */
    int want_mask, want_overlay, want_probabilities;
    api_window window;
} api_options;

void api_options_init(api_options *o);
/* Set one option from text: API_OK, or API_BAD_REQUEST with e set (unknown key, bad value). */
api_status api_options_set(api_options *o, const char *key, const char *value, api_error *e);
/* Parse a window: "auto", "none", or "C,W" (W >= 1). */
api_status api_window_parse(const char *text, api_window *w, api_error *e);

#endif
