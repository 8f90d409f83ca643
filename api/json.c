/* json.c - JSON number formatting (see json.h). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *api_json_f32(float v) {
    if (!isfinite(v)) return json_null();
    char text[32];
    for (int digits = 1; digits <= 9; digits++) { /* 9 significant digits always round-trip a float */
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if (strtof(text, NULL) == v) break;
    }
    /* at most 9 significant digits: written back with api_json_dump's 15 it reads the same */
    return json_real(strtod(text, NULL));
}

json_t *api_json_round(double v, int places) {
    if (!isfinite(v)) return json_null();
    double k = pow(10.0, places);
    return json_real(round(v * k) / k);
}

char *api_json_dump(const json_t *o, size_t *len) {
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (len) *len = s ? strlen(s) : 0;
    return s;
}
