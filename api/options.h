/* options.h - per-request segmentation options, from the query string, form fields or
 * JSON keys: threshold, overlay, alpha, outputs. */
#ifndef LGMS_API_OPTIONS_H
#define LGMS_API_OPTIONS_H

#include <stddef.h>

typedef struct {
    int has_threshold;
    float threshold; /* probability threshold for a one-class model, in (0, 1) */
    float alpha;     /* overlay opacity in [0, 1] */
    int want_mask, want_overlay, want_probabilities;
} api_options;

void api_options_init(api_options *o);
/* Set one option from text. Returns 0, or -1 with a message (unknown key or bad value). */
int api_options_set(api_options *o, const char *key, const char *value, char *err, size_t errlen);

#endif
