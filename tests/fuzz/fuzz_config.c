/* fuzz_config.c - libFuzzer target: the INI configuration file (libinih + settings). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    lgmsd_config c;
    char err[512];
    lgmsd_config_defaults(&c);
    if (!lgmsd_config_apply_string(&c, text, err, sizeof err)) lgmsd_config_validate(&c, err, sizeof err);
    free(text);
    return 0;
}
