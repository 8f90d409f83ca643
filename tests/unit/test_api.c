/* test_api.c - api/ modules: base64, options, router, the JSON upload form, problem+json,
 * PNG/JPEG codecs and their limits, label statistics and overlays. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/base64.h"
#include "../../api/image.h"
#include "../../api/jsonform.h"
#include "../../api/options.h"
#include "../../api/render.h"
#include "../../api/router.h"
#include "../../api/status.h"
#include "../../engine/threads.h"

/* api_parallel's runner on an engine thread team */
static void run_on_team(void *runner, void (*fn)(void *arg, int index, int count), void *arg) {
    lgms_threads_run(runner, fn, arg);
}

Test(base64, pieces_on_several_threads_make_the_one_piece_text) {
    size_t sizes[] = {65536, 65537, 65538, 200001};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int threads = 2; threads <= 3; threads++) {
            size_t n = sizes[k], len = api_base64_encoded_len(n);
            uint8_t *in = malloc(n);
            for (size_t i = 0; i < n; i++)
                in[i] = (uint8_t)((i * 2654435761u) >> 24);
            char *want = malloc(len + 1), *got = malloc(len + 2);
            memset(got, '#', len + 2);
            api_base64_encode(in, n, want);
            lgms_threads *team = lgms_threads_new(threads);
            api_parallel par = {run_on_team, team, threads};
            api_base64_encode_parallel(in, n, got, &par);
            lgms_threads_free(team);
            cr_assert_str_eq(got, want, "%zu bytes on %d threads", n, threads);
            cr_assert_eq(got[len + 1], '#', "wrote past the NUL");
            free(in), free(want), free(got);
        }
}

Test(base64, round_trip_all_lengths) {
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n < sizeof data; n++) {
        char text[420];
        api_base64_encode(data, n, text);
        cr_assert_eq(strlen(text), api_base64_encoded_len(n));
        uint8_t *out;
        size_t len;
        api_error e;
        cr_assert_eq(api_base64_decode(text, strlen(text), 1000, &out, &len, &e), API_OK, "n=%zu", n);
        cr_assert_eq(len, n);
        cr_assert(n == 0 || !memcmp(out, data, n));
        free(out);
    }
}

Test(base64, known_vectors_and_forms) {
    char text[16];
    api_base64_encode((const uint8_t *)"foob", 4, text);
    cr_assert_str_eq(text, "Zm9vYg==");
    uint8_t *out;
    size_t len;
    api_error e;
    const char *forms[] = {"Zm9vYg==", "Zm9vYg", "Zm9v\nYg==\n", "data:image/png;base64,Zm9vYg=="};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(api_base64_decode(forms[i], strlen(forms[i]), 100, &out, &len, &e), API_OK, "%s", forms[i]);
        cr_assert_eq(len, 4);
        cr_assert(!memcmp(out, "foob", 4));
        free(out);
    }
}

Test(base64, rejects_invalid_and_oversized) {
    uint8_t *out;
    size_t len;
    api_error e;
    const char *bad[] = {"Zm9v!g==", "Zm9vY", "Zm9vYg=x", "Zm9vYh==", "Zg===", "data:image/png,Zm9v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(api_base64_decode(bad[i], strlen(bad[i]), 100, &out, &len, &e), API_BAD_REQUEST, "accepted %s",
                     bad[i]);
    cr_assert_eq(api_base64_decode("Zm9vYmFy", 8, 5, &out, &len, &e), API_TOO_LARGE);
    cr_assert_str_eq(e.setting, "max_body_bytes");
}

Test(options, defaults_and_values) {
    api_options o;
    api_error e;
    api_options_init(&o);
    cr_assert(o.want_mask && o.want_overlay && !o.want_probabilities && !o.has_threshold);
    cr_assert_eq(o.window.mode, API_WINDOW_NONE);
    cr_assert_eq(api_options_set(&o, "threshold", "0.3", &e), API_OK);
    cr_assert(o.has_threshold);
    cr_assert_float_eq(o.threshold, 0.3f, 1e-7);
    cr_assert_eq(api_options_set(&o, "overlay", "false", &e), API_OK);
    cr_assert(!o.want_overlay);
    cr_assert_eq(api_options_set(&o, "outputs", "mask,probabilities", &e), API_OK);
    cr_assert(o.want_mask && !o.want_overlay && o.want_probabilities);
    cr_assert_eq(api_options_set(&o, "alpha", "1", &e), API_OK);
    cr_assert_eq(api_options_set(&o, "window", "40,400", &e), API_OK);
    cr_assert(o.window.mode == API_WINDOW_SET && o.window.center == 40 && o.window.width == 400);
    cr_assert_eq(api_options_set(&o, "window", "auto", &e), API_OK);
    cr_assert_eq(o.window.mode, API_WINDOW_AUTO);
}

Test(options, bad_values_are_named) {
    api_options o;
    api_error e;
    api_options_init(&o);
    const char *bad[][2] = {{"threshold", "1"},   {"threshold", "0"},      {"threshold", "x"},  {"alpha", "1.5"},
                            {"overlay", "maybe"}, {"outputs", "masks"},    {"outputs", ""},     {"treshold", "0.5"},
                            {"threshold", "nan"}, {"threshold", "0.5abc"}, {"window", "40"},    {"window", "40,0"},
                            {"window", "a,b"},    {"window", "40,400,1"},  {"window", "nan,4"}, {"window", "1,inf"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.detail[0] = 0;
        cr_assert_eq(api_options_set(&o, bad[i][0], bad[i][1], &e), API_BAD_REQUEST, "%s=%s", bad[i][0], bad[i][1]);
        cr_assert(e.detail[0]);
    }
}

Test(router, routes_methods_and_names) {
    api_route r;
    api_route_match("POST", "/v1/segment", &r);
    cr_assert_eq(r.id, API_ROUTE_SEGMENT);
    cr_assert_str_eq(r.model, "");
    api_route_match("POST", "/v1/models/busi-2024.v1/segment", &r);
    cr_assert_eq(r.id, API_ROUTE_SEGMENT);
    cr_assert_str_eq(r.model, "busi-2024.v1");
    api_route_match("GET", "/v1/segment", &r);
    cr_assert_eq(r.id, API_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(r.allow, "POST");
    api_route_match("DELETE", "/metrics", &r);
    cr_assert_eq(r.id, API_ROUTE_METHOD_NOT_ALLOWED);
    api_route_match("HEAD", "/healthz", &r);
    cr_assert_eq(r.id, API_ROUTE_HEALTHZ);
    api_route_match("GET", "/v1/models", &r);
    cr_assert_eq(r.id, API_ROUTE_MODELS);
    api_route_match("GET", "/v1/jobs", &r);
    cr_assert_eq(r.id, API_ROUTE_JOBS);
    api_route_match("DELETE", "/v1/jobs/abc123", &r);
    cr_assert_eq(r.id, API_ROUTE_JOB);
    cr_assert_str_eq(r.job, "abc123");
    api_route_match("DELETE", "/v1/jobs", &r);
    cr_assert_eq(r.id, API_ROUTE_METHOD_NOT_ALLOWED);
    api_route_match("OPTIONS", "/v1/models/busi/segment", &r);
    cr_assert_eq(r.id, API_ROUTE_PREFLIGHT);
    cr_assert_str_eq(r.allow, "POST");
    const char *notfound[] = {"/v1",       "/v1/models/../segment", "/v1/models//segment", "/v1/models/a/b/segment",
                              "/healthz/", "/v1/segments"};
    for (size_t i = 0; i < sizeof notfound / sizeof notfound[0]; i++) {
        api_route_match("POST", notfound[i], &r);
        cr_assert_eq(r.id, API_ROUTE_NOT_FOUND, "%s", notfound[i]);
    }
}

Test(jsonform, json_body_forms) {
    const char *ok[] = {
        "{\"image\":\"aGVsbG8=\",\"threshold\":0.25,\"overlay\":false,\"outputs\":[\"mask\",\"probabilities\"]}",
        " { \"threshold\" : 0.25 , \"image\" : \"aGVs\\/bG8\" , "
        "\"outputs\":[\"mask\",\"probabilities\"],\"overlay\":false,"
        "\"window\":null } ", /* an escape in the image (not decoded in place), an option left null */
    };
    for (size_t i = 0; i < 2; i++) {
        api_options o;
        uint8_t *img;
        size_t len;
        api_error e;
        api_options_init(&o);
        cr_assert_eq(api_json_form_parse(ok[i], strlen(ok[i]), 100, &o, &img, &len, &e), API_OK, "%s", e.detail);
        cr_assert_eq(len, i ? 6 : 5);
        cr_assert(!memcmp(img, i ? "hel\xfd\xb1\xbc" : "hello", len), "form %zu", i);
        cr_assert_float_eq(o.threshold, 0.25f, 1e-7);
        cr_assert(o.want_probabilities && !o.want_overlay);
        free(img);
    }
}

Test(jsonform, json_body_errors) {
    struct {
        const char *body;
        api_status status;
        const char *needle;
    } cases[] = {
        {"{", API_BAD_REQUEST, "must be an object"},
        {"[1,2]", API_BAD_REQUEST, "must be an object"},
        {"{\"a\":[0,0,0]}", API_BAD_REQUEST, "must be an object"}, /* not the form's shape: no tree is built */
        {"{\"a\":{\"b\":1}}", API_BAD_REQUEST, "must be an object"},
        {"{\"image\":\"aGVsbG8=\"} x", API_BAD_REQUEST, "must be an object"},
        {"{\"threshold\":0.5}", API_BAD_REQUEST, "no \"image\""},
        {"{\"image\":5}", API_BAD_REQUEST, "base64 string"},
        {"{\"image\":\"@@@\"}", API_BAD_REQUEST, "not valid base64"},
        {"{\"image\":\"aGVsbG8=\",\"colour\":1}", API_BAD_REQUEST, "unknown option"},
        {"{\"image\":\"aGVsbG8=\",\"image\":\"aGVsbG8=\"}", API_BAD_REQUEST, "invalid JSON"},
        {"{\"image\":\"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=\"}", API_TOO_LARGE, "max_body_bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_options o;
        uint8_t *img;
        size_t len;
        api_error e = {0};
        api_options_init(&o);
        api_status st = api_json_form_parse(cases[i].body, strlen(cases[i].body), 10, &o, &img, &len, &e);
        cr_assert_eq(st, cases[i].status, "%s -> %d (%s)", cases[i].body, st, e.detail);
        cr_assert(strstr(e.detail, cases[i].needle), "%s: message '%s'", cases[i].body, e.detail);
        cr_assert_null(img);
    }
}

Test(jsonform, deeply_nested_json_is_rejected) {
    size_t depth = 100000;
    char *body = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++)
        body[i] = '[', body[2 * depth - 1 - i] = ']';
    body[2 * depth] = 0;
    api_options o;
    uint8_t *img;
    size_t len;
    api_error e;
    api_options_init(&o);
    cr_assert_eq(api_json_form_parse(body, 2 * depth, 100, &o, &img, &len, &e), API_BAD_REQUEST);
    free(body);
}

Test(status, every_status_maps_to_http_once) {
    const int want[API_STATUS_COUNT] = {200, 400, 401, 404, 405, 413, 415, 422, 503, 499, 500};
    for (int st = 0; st < API_STATUS_COUNT; st++)
        cr_assert_eq(api_http_status((api_status)st), want[st], "status %d", st);
    api_error e;
    cr_assert_eq(api_fail_limit(&e, "max_pixels", "image is %d pixels", 7), API_TOO_LARGE);
    cr_assert_str_eq(e.setting, "max_pixels");
    cr_assert_str_eq(e.detail, "image is 7 pixels");
}

Test(problem, document_shape) {
    char *s = api_problem_json(413, "too big", "set LGMSD_MAX_PIXELS or --max-pixels", "abc");
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    cr_assert_not_null(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "type")), "about:blank");
    cr_assert_str_eq(json_string_value(json_object_get(o, "title")), "Content too large");
    cr_assert_eq(json_integer_value(json_object_get(o, "status")), 413);
    cr_assert_str_eq(json_string_value(json_object_get(o, "detail")), "too big (set LGMSD_MAX_PIXELS or --max-pixels)");
    cr_assert_str_eq(json_string_value(json_object_get(o, "request_id")), "abc");
    json_decref(o);
    free(s);
}

static void png_round_trip(int channels) {
    int w = 37, h = 23;
    uint8_t *px = malloc((size_t)w * h * channels);
    for (int i = 0; i < w * h * channels; i++)
        px[i] = (uint8_t)(i * 7);
    uint8_t *png;
    size_t len;
    cr_assert_eq(api_png_encode(px, w, h, channels, &png, &len), 0);
    api_image img;
    api_error e;
    cr_assert_eq(api_image_decode(png, len, 1000000, &img, &e), API_OK, "%s", e.detail);
    cr_assert_eq(img.width, w);
    cr_assert_eq(img.height, h);
    cr_assert_eq(img.channels, channels);
    cr_assert(!memcmp(img.pixels, px, (size_t)w * h * channels));
    api_image_free(&img);
    free(png), free(px);
}

Test(image, png_grey_and_rgb_round_trip) {
    png_round_trip(1);
    png_round_trip(3);
}

Test(image, png_deflated_in_bands_on_several_threads_decodes_to_the_same_pixels) {
    int w = 300, h = 301; /* ~270 KB of RGB rows: room for up to four 64 KB bands */
    uint8_t *px = malloc((size_t)w * h * 3), *serial, *banded;
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        px[i] = (uint8_t)((i / 3 % (size_t)w) + (i % 3) * 40 + ((i * 2654435761u) >> 28)); /* ramps and noise */
    size_t serial_len, banded_len;
    cr_assert_eq(api_png_encode(px, w, h, 3, &serial, &serial_len), 0);
    for (int threads = 2; threads <= 3; threads++) {
        lgms_threads *team = lgms_threads_new(threads);
        api_parallel par = {run_on_team, team, threads};
        cr_assert_eq(api_png_encode_parallel(px, w, h, 3, &par, &banded, &banded_len), 0);
        lgms_threads_free(team);
        /* full flushes between bands: a different stream from the one-piece encoding */
        cr_assert(banded_len != serial_len || memcmp(banded, serial, serial_len), "%d threads: no bands", threads);
        api_image img;
        api_error e;
        cr_assert_eq(api_png_decode_spng(banded, banded_len, 1000000, &img, &e), API_OK, "%s", e.detail);
        cr_assert(img.width == w && img.height == h && img.channels == 3);
        cr_assert(!memcmp(img.pixels, px, (size_t)w * h * 3), "%d threads: pixels differ", threads);
        api_image_free(&img);
        free(banded);
    }
    free(serial), free(px);
}

/* rows y0..y1-1 of a 611-wide grey test image, drawn on request */
static void draw_grey(const void *arg, int y0, int y1, uint8_t *out) {
    (void)arg;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < 611; x++)
            *out++ = (uint8_t)(x * 3 + y * 5 + ((x * y * 2654435761u) >> 29));
}

Test(image, several_pngs_in_bands_from_one_queue_with_drawn_rows) {
    int w = 611, h = 523; /* RGB: ~960 KB of rows, 7 bands; grey: ~320 KB, 2 bands */
    uint8_t *rgb = malloc((size_t)w * h * 3), *grey = malloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        rgb[i] = (uint8_t)((i / 3 % (size_t)w) + (i % 3) * 40 + ((i * 2654435761u) >> 28));
    draw_grey(NULL, 0, h, grey);
    for (int threads = 1; threads <= 3; threads++) {
        lgms_threads *team = lgms_threads_new(threads);
        api_parallel par = {run_on_team, team, threads};
        api_png_job jobs[2] = {{.width = w, .height = h, .channels = 1, .draw = draw_grey},
                               {.width = w, .height = h, .channels = 3, .pixels = rgb}};
        cr_assert_eq(api_png_encode_jobs(jobs, 2, &par), 0);
        lgms_threads_free(team);
        const uint8_t *want[2] = {grey, rgb};
        for (int k = 0; k < 2; k++) {
            api_image img;
            api_error e;
            /* libspng checks the CRCs and the Adler-32 joined from the bands' */
            cr_assert_eq(api_png_decode_spng(jobs[k].png, jobs[k].len, 1u << 20, &img, &e), API_OK, "%s", e.detail);
            cr_assert(img.width == w && img.height == h && img.channels == jobs[k].channels);
            cr_assert(!memcmp(img.pixels, want[k], (size_t)w * h * jobs[k].channels), "%d threads, image %d", threads,
                      k);
            api_image_free(&img);
            free(jobs[k].png);
        }
    }
    free(rgb), free(grey);
}

Test(image, pixel_limit_checked_from_header) {
    uint8_t px[64 * 64] = {0};
    uint8_t *png;
    size_t len;
    cr_assert_eq(api_png_encode(px, 64, 64, 1, &png, &len), 0);
    api_image img;
    api_error e;
    cr_assert_eq(api_image_decode(png, len, 64 * 64 - 1, &img, &e), API_TOO_LARGE);
    cr_assert(strstr(e.detail, "max_pixels"), "%s", e.detail);
    cr_assert_str_eq(e.setting, "max_pixels");
    /* a header claiming 100000 x 100000: refused before any allocation of that size */
    png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xA0; /* width  = 100000 */
    png[20] = 0x00, png[21] = 0x01, png[22] = 0x86, png[23] = 0xA0; /* height = 100000 */
    api_status st = api_image_decode(png, len, 25u << 20, &img, &e);
    cr_assert(st == API_TOO_LARGE || st == API_UNPROCESSABLE, "status %d", st);
    free(png);
}

Test(image, garbage_and_truncation) {
    api_image img;
    api_error e;
    cr_assert_eq(api_image_decode((const uint8_t *)"hello world", 11, 1000, &img, &e), API_UNSUPPORTED);
    cr_assert_eq(api_image_decode((const uint8_t *)"", 0, 1000, &img, &e), API_UNPROCESSABLE);
    uint8_t px[40 * 30 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 13);
    uint8_t *png;
    size_t len;
    cr_assert_eq(api_png_encode(px, 40, 30, 3, &png, &len), 0);
    /* every cut fails except one that drops only IEND's CRC (its last 4 bytes, which
     * carry no data): libspng accepts that */
    for (size_t cut = 1; cut < len - 4; cut++) {
        api_status st = api_image_decode(png, cut, 1000000, &img, &e);
        cr_assert_neq(st, API_OK, "PNG cut at %zu of %zu decoded", cut, len);
        cr_assert_null(img.pixels);
    }
    const uint8_t jpeg_head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0};
    cr_assert_eq(api_image_decode(jpeg_head, sizeof jpeg_head, 1000, &img, &e), API_UNPROCESSABLE);
    free(png);
}

Test(render, stats_bbox_and_mask) {
    int w = 6, h = 5;
    uint8_t labels[30] = {0};
    labels[1 * 6 + 2] = 1, labels[3 * 6 + 4] = 1, labels[2 * 6 + 3] = 2;
    api_class_stats s[3];
    api_label_stats(labels, w, h, 3, s);
    cr_assert_eq(s[1].pixels, 2);
    cr_assert_eq(s[1].x0, 2);
    cr_assert_eq(s[1].y0, 1);
    cr_assert_eq(s[1].x1, 4);
    cr_assert_eq(s[1].y1, 3);
    cr_assert_eq(s[2].pixels, 1);
    uint8_t mask[30];
    api_mask_pixels(labels, w, h, 1, mask);
    cr_assert_eq(mask[8], 255);
    cr_assert_eq(mask[0], 0);
    api_mask_pixels(labels, w, h, 0, mask);
    cr_assert_eq(mask[15], 2);
}

Test(render, overlay_keeps_background_and_colours_labels) {
    int w = 8, h = 8;
    uint8_t grey[64], labels[64] = {0}, out[64 * 3];
    memset(grey, 100, sizeof grey);
    for (int y = 2; y < 6; y++)
        for (int x = 2; x < 6; x++)
            labels[y * 8 + x] = 1;
    api_render_overlay(grey, 1, labels, w, h, 0.5f, out);
    cr_assert(out[0] == 100 && out[1] == 100 && out[2] == 100);
    const uint8_t *edge = out + (2 * 8 + 2) * 3, *inside = out + (3 * 8 + 3) * 3;
    cr_assert_eq(edge[0], 255);                                       /* outline drawn in the class colour */
    cr_assert(inside[0] > 100 && inside[0] < 255 && inside[1] < 100); /* blended */
}
