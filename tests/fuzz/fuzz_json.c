/* fuzz_json.c - libFuzzer target: the JSON upload form (jansson, options, base64). */
#include <stdint.h>
#include <stdlib.h>

#include "../../api/base64.h"
#include "../../api/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_options o;
    uint8_t *img;
    size_t len;
    char err[300];
    api_options_init(&o);
    if (!api_parse_json_request((const char *)data, size, 1u << 20, &o, &img, &len, err, sizeof err)) free(img);
    /* the base64 decoder also on raw input */
    if (!api_base64_decode((const char *)data, size, 1u << 20, &img, &len)) free(img);
    return 0;
}
