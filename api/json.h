/* json.h - how lgmsd writes JSON numbers: float32 values (thresholds, model means) as the
 * shortest text that reads back as the same float (0.4, not 0.4000000059604645), other
 * reals with at most 15 significant digits. Every document the api layer builds is
 * written with api_json_dump. */
#ifndef LGMS_API_JSON_H
#define LGMS_API_JSON_H

#include <jansson.h>
#include <stddef.h>

/* A JSON real holding the shortest decimal that round-trips to v as a float. */
json_t *api_json_f32(float v);
/* A real rounded to `places` decimals (timings in ms: 2). */
json_t *api_json_round(double v, int places);
/* Compact text of o, malloc'ed, its length in *len (len may be NULL); o is not consumed. */
char *api_json_dump(const json_t *o, size_t *len);

#endif
