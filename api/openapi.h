/* openapi.h - the OpenAPI 3 document served at GET /openapi.json (api/openapi.json). */
#ifndef LGMS_API_OPENAPI_H
#define LGMS_API_OPENAPI_H

#include <stddef.h>

/* The document (NUL-terminated) and its length without the NUL. */
const char *api_openapi_json(void);
size_t api_openapi_json_len(void);

#endif
