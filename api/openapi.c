/* openapi.c - the API description. The document is api/openapi.json in the tree (linted
 * and edited as JSON), embedded into the binary at build time by embed.S. */
#include "openapi.h"

extern const char lgmsd_openapi_json[], lgmsd_openapi_json_end[];

const char *api_openapi_json(void) { return lgmsd_openapi_json; }

size_t api_openapi_json_len(void) { return (size_t)(lgmsd_openapi_json_end - lgmsd_openapi_json); }
