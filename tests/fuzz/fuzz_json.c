/* fuzz_json.c - libFuzzer target: the JSON upload form (jansson, options, base64). */
#include <stdint.h>
#include <stdlib.h>

#include "../../api/base64.h"
#include "../../api/jsonform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_options o;
    uint8_t *img;
    size_t len;
    api_error e;
    api_options_init(&o);
    if (!api_json_form_parse((const char *)data, size, 1u << 20, &o, &img, &len, &e)) free(img);
    /* the base64 decoder also on raw input */
    if (!api_base64_decode((const char *)data, size, 1u << 20, &img, &len, &e)) free(img);
    return 0;
}
