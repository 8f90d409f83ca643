/* jsonform.h - the JSON upload form: {"image": "<base64>", ...options}.
 *
 * The body is checked against that shape by a scan that builds nothing (an object of at
 * most 32 members whose values are strings, numbers, booleans or short arrays of strings)
 * before jansson builds its tree, so a large body of something else (an array of a
 * million zeros) is refused without the 16-fold memory a tree of it would take. */
#ifndef LGMS_API_JSONFORM_H
#define LGMS_API_JSONFORM_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "status.h"

/* Parse a JSON upload. API_OK with *image holding the decoded bytes (malloc'ed, at most
 * max_image_bytes) and the body's options applied to opts; else API_BAD_REQUEST,
 * API_TOO_LARGE (max_body_bytes) or API_INTERNAL with e set. */
api_status api_json_form_parse(const char *body, size_t len, size_t max_image_bytes, api_options *opts, uint8_t **image,
                               size_t *image_len, api_error *e);

#endif
