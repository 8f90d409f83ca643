/* options.c - parse and validate per-request options. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_options_init(api_options *o) {
    memset(o, 0, sizeof *o);
    o->alpha = 0.4f;
    o->want_mask = 1;
    o->want_overlay = 1;
}

static int parse_float(const char *v, float *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = (float)d;
    return 0;
}

static int parse_bool(const char *v, int *out) {
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
        *out = 0;
    else
        return -1;
    return 0;
}

api_status api_window_parse(const char *text, api_window *w, api_error *e) {
    if (!strcasecmp(text, "auto")) {
        *w = (api_window){API_WINDOW_AUTO, 0, 0};
        return API_OK;
    }
    if (!strcasecmp(text, "none") || !strcasecmp(text, "off") || !*text) {
        *w = (api_window){API_WINDOW_NONE, 0, 0};
        return API_OK;
    }
    char *end;
    errno = 0;
    double c = strtod(text, &end), width = NAN;
    if (end != text && *end == ',') {
        const char *p = end + 1;
        width = strtod(p, &end);
        if (end == p) width = NAN;
    }
    if (errno || *end || !isfinite(c) || !isfinite(width) || width < 1 || fabs(c) > 1e9 || width > 1e9)
        return api_fail(e, API_BAD_REQUEST, "window must be auto, none, or CENTER,WIDTH with WIDTH >= 1 (e.g. 40,400)");
    *w = (api_window){API_WINDOW_SET, c, width};
    return API_OK;
}

/* outputs=mask,overlay,probabilities,dicom-seg,dicom-sc (any subset, at least one) */
static api_status parse_outputs(api_options *o, const char *v, api_error *e) {
    int mask = 0, overlay = 0, prob = 0, seg = 0, sc = 0;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 4 && !strncmp(p, "mask", 4))
            mask = 1;
        else if (n == 7 && !strncmp(p, "overlay", 7))
            overlay = 1;
        else if (n == 13 && !strncmp(p, "probabilities", 13))
            prob = 1;
        else if (n == 9 && !strncmp(p, "dicom-seg", 9))
            seg = 1;
        else if (n == 8 && !strncmp(p, "dicom-sc", 8))
            sc = 1;
        else {
            return api_fail(e, API_BAD_REQUEST,
                            "outputs: unknown output '%.*s' (use mask, overlay, probabilities, dicom-seg, dicom-sc)",
                            (int)(n > 40 ? 40 : n), p);
        }
        p += n + (comma ? 1 : 0);
    }
    if (!mask && !overlay && !prob && !seg && !sc)
        return api_fail(e, API_BAD_REQUEST,
                        "outputs: name at least one of mask, overlay, probabilities, dicom-seg, dicom-sc");
    o->want_mask = mask, o->want_overlay = overlay, o->want_probabilities = prob;
    o->want_dicom_seg = seg, o->want_dicom_sc = sc;
    return API_OK;
}

api_status api_options_set(api_options *o, const char *key, const char *value, api_error *e) {
    if (!value) value = "";
    if (!strcmp(key, "threshold")) {
        float t;
        if (parse_float(value, &t) || !(t > 0.0f && t < 1.0f))
            return api_fail(e, API_BAD_REQUEST, "threshold must be a number strictly between 0 and 1");
        o->threshold = t, o->has_threshold = 1;
    } else if (!strcmp(key, "alpha")) {
        float a;
        if (parse_float(value, &a) || a < 0.0f || a > 1.0f)
            return api_fail(e, API_BAD_REQUEST, "alpha must be a number from 0 to 1");
        o->alpha = a;
    } else if (!strcmp(key, "overlay")) {
        if (parse_bool(value, &o->want_overlay)) return api_fail(e, API_BAD_REQUEST, "overlay must be true or false");
    } else if (!strcmp(key, "outputs")) {
        return parse_outputs(o, value, e);
    } else if (!strcmp(key, "window")) {
        return api_window_parse(value, &o->window, e);
    } else if (!strcmp(key, "frame")) {
        char *end;
        errno = 0;
        long f = strtol(value, &end, 10);
        if (!strcasecmp(value, "all"))
            o->frame = API_FRAME_ALL;
        else if (end != value && !*end && !errno && f >= 1 && f <= 1000000)
            o->frame = (int)f;
        else
            return api_fail(e, API_BAD_REQUEST, "frame must be a frame number from 1, or all");
    } else {
        return api_fail(e, API_BAD_REQUEST,
                        "unknown option '%.40s' (options: threshold, alpha, overlay, outputs, window, frame)", key);
    }
    return API_OK;
}
