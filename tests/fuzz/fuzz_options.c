/* fuzz_options.c - libFuzzer target: query/form option parsing and route matching.
 * Input: "METHOD\0PATH\0key=value&key=value..." (any split works). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/options.h"
#include "../../api/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    /* split at the first two NULs; missing parts are empty */
    size_t m_len = strlen(s), p_at = m_len < size ? m_len + 1 : size;
    const char *method = s, *path = s + p_at;
    size_t q_at = p_at + strlen(path) < size ? p_at + strlen(path) + 1 : size;
    const char *q = s + q_at;
    api_route r;
    api_route_match(method, path, &r);
    api_options o;
    api_error e;
    api_options_init(&o);
    char *copy = strdup(q), *save = NULL;
    for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) *eq = 0;
        api_options_set(&o, kv, eq ? eq + 1 : NULL, &e);
    }
    free(copy);
    free(s);
    return 0;
}
