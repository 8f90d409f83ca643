/* request.h - the JSON upload form: {"image": "<base64>", ...options}. */
#ifndef LGMS_API_REQUEST_H
#define LGMS_API_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* Parse a JSON request body. On success returns 0 and *image holds the decoded bytes
 * (malloc'ed). On failure returns the HTTP status (400 or 413) with a message in err. */
int api_parse_json_request(const char *body, size_t len, size_t max_image_bytes, api_options *opts, uint8_t **image,
                           size_t *image_len, char *err, size_t errlen);

#endif
