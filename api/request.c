/* request.c - parse and validate the JSON upload form (jansson). */
#include "request.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"

/* A JSON option value as the text api_options_set takes. */
static int option_text(json_t *v, char *buf, size_t cap) {
    if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_number(v)) {
        snprintf(buf, cap, "%.9g", json_number_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) { /* "outputs": ["mask", "overlay"] */
        size_t i, used = 0;
        json_t *e;
        buf[0] = 0;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) return -1;
            int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", json_string_value(e));
            if (n < 0 || (size_t)n >= cap - used) return -1;
            used += (size_t)n;
        }
    } else {
        return -1;
    }
    return 0;
}

int api_parse_json_request(const char *body, size_t len, size_t max_image_bytes, api_options *opts, uint8_t **image,
                           size_t *image_len, char *err, size_t errlen) {
    *image = NULL;
    *image_len = 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return 400;
    }
    int status = 400;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the JSON body must be an object with an \"image\" field");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "image")) continue;
        char text[256];
        if (option_text(v, text, sizeof text)) {
            snprintf(err, errlen, "option \"%.40s\" has a value of the wrong type", key);
            goto out;
        }
        if (api_options_set(opts, key, text, err, errlen)) goto out;
    }
    json_t *img = json_object_get(root, "image");
    if (!img) {
        snprintf(err, errlen, "the JSON body has no \"image\" field (base64 PNG or JPEG)");
        goto out;
    }
    if (!json_is_string(img)) {
        snprintf(err, errlen, "\"image\" must be a base64 string");
        goto out;
    }
    int rc = api_base64_decode(json_string_value(img), json_string_length(img), max_image_bytes, image, image_len);
    if (rc == -2) {
        snprintf(err, errlen,
                 "decoded image exceeds max_body_bytes = %zu (set LGMSD_MAX_BODY_BYTES or --max-body-bytes)",
                 max_image_bytes);
        status = 413;
        goto out;
    }
    if (rc) {
        snprintf(err, errlen, rc == -3 ? "out of memory decoding base64" : "\"image\" is not valid base64");
        status = rc == -3 ? 500 : 400;
        goto out;
    }
    status = 0;
out:
    json_decref(root);
    return status;
}
