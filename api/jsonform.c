/* jsonform.c - check the JSON upload form's shape, then parse it (jansson). */
#include "jsonform.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define FORM_MAX_MEMBERS 32
#define FORM_MAX_ARRAY 16

typedef struct {
    const char *p, *end;
} scan;

static void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int take(scan *s, char c) {
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* A string token (escapes checked for form; jansson checks the rest). */
static int string_token(scan *s) {
    if (!take(s, '"')) return 0;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (s->p >= s->end) return 0;
            char esc = *s->p++;
            if (esc == 'u') {
                if (s->end - s->p < 4) return 0;
                s->p += 4;
            } else if (!strchr("\"\\/bfnrt", esc)) {
                return 0;
            }
        }
    }
    return 0;
}

static int literal(scan *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return 0;
    s->p += n;
    return 1;
}

/* A value of the form: string, number, true/false/null, or [string, ...]. */
static int value_token(scan *s) {
    skip_ws(s);
    if (s->p >= s->end) return 0;
    char c = *s->p;
    if (c == '"') return string_token(s);
    if (c == '[') {
        s->p++;
        if (take(s, ']')) return 1;
        for (int n = 0; n < FORM_MAX_ARRAY; n++) {
            if (!string_token(s)) return 0;
            if (take(s, ']')) return 1;
            if (!take(s, ',')) return 0;
        }
        return 0;
    }
    if (c == 't') return literal(s, "true");
    if (c == 'f') return literal(s, "false");
    if (c == 'n') return literal(s, "null");
    const char *start = s->p;
    while (s->p < s->end && s->p - start < 32 && strchr("+-0123456789.eE", *s->p))
        s->p++;
    return s->p > start;
}

/* 1 when the body has the form's shape; *image_at and *image_end then delimit the text of
 * an "image" string value (inside the quotes), or are NULL. */
static int has_form_shape(const char *body, size_t len, const char **image_at, const char **image_end) {
    scan s = {body, body + len};
    *image_at = *image_end = NULL;
    if (!take(&s, '{')) return 0;
    if (take(&s, '}')) return 1;
    for (int n = 0; n < FORM_MAX_MEMBERS; n++) {
        skip_ws(&s);
        const char *key = s.p;
        if (!string_token(&s) || s.p - key > 66 || !take(&s, ':')) return 0;
        skip_ws(&s);
        const char *val = s.p;
        if (!value_token(&s)) return 0;
        if (s.p - key >= 7 && !memcmp(key, "\"image\"", 7) && *val == '"') *image_at = val + 1, *image_end = s.p - 1;
        if (take(&s, '}')) {
            skip_ws(&s);
            return s.p == s.end;
        }
        if (!take(&s, ',')) return 0;
    }
    return 0;
}

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
        json_t *x;
        buf[0] = 0;
        json_array_foreach(v, i, x) {
            if (!json_is_string(x)) return -1;
            int n = snprintf(buf + used, cap - used, "%s%s", i ? "," : "", json_string_value(x));
            if (n < 0 || (size_t)n >= cap - used) return -1;
            used += (size_t)n;
        }
    } else {
        return -1;
    }
    return 0;
}

api_status api_json_form_parse(const char *body, size_t len, size_t max_image_bytes, api_options *opts, uint8_t **image,
                               size_t *image_len, api_error *e) {
    *image = NULL;
    *image_len = 0;
    const char *at, *end;
    if (!has_form_shape(body, len, &at, &end))
        return api_fail(e, API_BAD_REQUEST,
                        "the JSON body must be an object with an \"image\" string (base64) and option values "
                        "(strings, numbers, booleans or short arrays of strings): see GET /openapi.json");
    /* the image text is decoded where it lies (base64 needs no JSON unescaping unless it has
     * a backslash); jansson parses the rest, with the image as "" */
    char *rest = NULL;
    size_t rest_len = 0;
    int direct = at && !memchr(at, '\\', (size_t)(end - at));
    if (direct) {
        size_t head = (size_t)(at - body), tail = len - (size_t)(end - body);
        rest_len = head + tail;
        rest = malloc(rest_len + 1);
        if (!rest) return api_fail(e, API_INTERNAL, "out of memory parsing the JSON body");
        memcpy(rest, body, head);
        memcpy(rest + head, end, tail);
        rest[head + tail] = 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb(direct ? rest : body, direct ? rest_len : len, JSON_REJECT_DUPLICATES, &jerr);
    free(rest);
    if (!root)
        return api_fail(e, API_BAD_REQUEST, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                        jerr.text);
    api_status st = API_BAD_REQUEST;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "image")) continue;
        char text[256];
        if (json_is_null(v)) continue; /* an option left unset */
        if (option_text(v, text, sizeof text)) {
            api_fail(e, API_BAD_REQUEST, "option \"%.40s\" has a value of the wrong type", key);
            goto out;
        }
        if (api_options_set(opts, key, text, e)) goto out;
    }
    json_t *img = json_object_get(root, "image");
    if (!img) {
        api_fail(e, API_BAD_REQUEST, "the JSON body has no \"image\" field (base64 PNG, JPEG or DICOM)");
        goto out;
    }
    if (!json_is_string(img)) {
        api_fail(e, API_BAD_REQUEST, "\"image\" must be a base64 string");
        goto out;
    }
    if (direct)
        st = api_base64_decode(at, (size_t)(end - at), max_image_bytes, image, image_len, e);
    else
        st = api_base64_decode(json_string_value(img), json_string_length(img), max_image_bytes, image, image_len, e);
out:
    json_decref(root);
    return st;
}
