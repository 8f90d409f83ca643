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

/* outputs=mask,overlay,probabilities (any subset, at least one) */
static int parse_outputs(api_options *o, const char *v, char *err, size_t errlen) {
    int mask = 0, overlay = 0, prob = 0;
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
        else {
            snprintf(err, errlen, "outputs: unknown output '%.*s' (use mask, overlay, probabilities)",
                     (int)(n > 40 ? 40 : n), p);
            return -1;
        }
        p += n + (comma ? 1 : 0);
    }
    if (!mask && !overlay && !prob) {
        snprintf(err, errlen, "outputs: name at least one of mask, overlay, probabilities");
        return -1;
    }
    o->want_mask = mask, o->want_overlay = overlay, o->want_probabilities = prob;
    return 0;
}

int api_options_set(api_options *o, const char *key, const char *value, char *err, size_t errlen) {
    if (!value) value = "";
    if (!strcmp(key, "threshold")) {
        float t;
        if (parse_float(value, &t) || !(t > 0.0f && t < 1.0f)) {
            snprintf(err, errlen, "threshold must be a number strictly between 0 and 1");
            return -1;
        }
        o->threshold = t, o->has_threshold = 1;
    } else if (!strcmp(key, "alpha")) {
        float a;
        if (parse_float(value, &a) || a < 0.0f || a > 1.0f) {
            snprintf(err, errlen, "alpha must be a number from 0 to 1");
            return -1;
        }
        o->alpha = a;
    } else if (!strcmp(key, "overlay")) {
        if (parse_bool(value, &o->want_overlay)) {
            snprintf(err, errlen, "overlay must be true or false");
            return -1;
        }
    } else if (!strcmp(key, "outputs")) {
        return parse_outputs(o, value, err, errlen);
    } else {
        snprintf(err, errlen, "unknown option '%.40s' (options: threshold, alpha, overlay, outputs)", key);
        return -1;
    }
    return 0;
}
