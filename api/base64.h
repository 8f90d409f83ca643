/* base64.h - RFC 4648 base64 (standard alphabet) for JSON image payloads and replies. */
#ifndef LGMS_API_BASE64_H
#define LGMS_API_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "parallel.h"
#include "status.h"

/* Characters api_base64_encode writes for n bytes (without the terminating NUL). */
size_t api_base64_encoded_len(size_t n);
/* Writes api_base64_encoded_len(n) characters and a NUL into out. */
void api_base64_encode(const uint8_t *in, size_t n, char *out);
/* The same in pieces on par's threads (par NULL or 1 thread: serially). */
void api_base64_encode_parallel(const uint8_t *in, size_t n, char *out, const api_parallel *par);
/* Decodes text (padding optional, ASCII whitespace ignored, a leading "data:...;base64,"
 * prefix accepted) into a malloc'ed buffer of at most max_out bytes (the decoded image is
 * held to max_body_bytes). API_OK, API_BAD_REQUEST for invalid base64, API_TOO_LARGE past
 * max_out, API_INTERNAL out of memory. */
api_status api_base64_decode(const char *text, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
                             api_error *e);

#endif
