/* openapi.h - the OpenAPI 3 description served at GET /openapi.json. */
#ifndef LGMS_API_OPENAPI_H
#define LGMS_API_OPENAPI_H

const char *api_openapi_json(void);

#endif
