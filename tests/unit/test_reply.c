/* test_reply.c - the documents api/ builds: an image result through the whole worker
 * pipeline (three-class fixture model) into the JSON reply and into files, the shortest
 * float text, the window rule, and the models listing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../api/base64.h"
#include "../../api/image.h"
#include "../../api/json.h"
#include "../../api/models.h"
#include "../../api/render.h"
#include "../../api/reply.h"
#include "../../api/segment_image.h"
#include "../../config/config.h"
#include "../../engine/threads.h"

static lgms_model *load(const char *path) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(path, &m, err, sizeof err), LGMS_OK, "%s", err);
    return m;
}

static uint8_t *test_png(size_t *len) {
    uint8_t px[50 * 70 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 31);
    uint8_t *png;
    cr_assert_eq(api_png_encode(px, 70, 50, 3, &png, len), 0);
    return png;
}

Test(reply, segmentation_document) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    api_image_ctx *ctx = api_image_ctx_new(m, 1);
    size_t len;
    uint8_t *png = test_png(&len);
    api_options opts;
    api_options_init(&opts);
    opts.want_probabilities = 1;
    opts.threshold = 0.4f, opts.has_threshold = 1;
    api_image_result res;
    api_error err;
    cr_assert_eq(api_segment_image(ctx, png, len, 1 << 20, &opts, &res, &err), API_OK, "%s", err.detail);
    res.t.queue = 1.5;
    size_t text_len;
    char *text = api_image_reply_json(&res, api_image_ctx_meta(ctx), &opts, "tri", "req-1", NULL, &text_len, &err);
    cr_assert_not_null(text, "%s", err.detail);
    cr_assert_eq(strlen(text), text_len);
    cr_assert(strstr(text, "\"threshold\":0.4,"), "float32 0.4 written as 0.4: %.200s", text);
    json_error_t e;
    json_t *r = json_loads(text, 0, &e);
    cr_assert_not_null(r, "%s", e.text);
    cr_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(r, "model")), "tri");
    cr_assert_eq(json_integer_value(json_object_get(r, "width")), 70);
    cr_assert_eq(json_integer_value(json_object_get(r, "height")), 50);
    cr_assert(json_is_null(json_object_get(r, "window")));
    json_t *input = json_object_get(r, "input");
    cr_assert_str_eq(json_string_value(json_object_get(input, "format")), "png");
    cr_assert_eq(json_integer_value(json_object_get(input, "bits")), 8);
    json_t *classes = json_object_get(r, "classes");
    cr_assert_eq(json_array_size(classes), 2); /* background is not listed */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(classes, 1), "name")), "class2");
    long long total = 0;
    for (size_t i = 0; i < 2; i++)
        total += json_integer_value(json_object_get(json_array_get(classes, i), "pixels"));
    cr_assert_leq(total, 70 * 50);
    const char *mask_b64 = json_string_value(json_object_get(json_object_get(r, "mask"), "base64"));
    uint8_t *mpng;
    size_t mlen;
    cr_assert_eq(api_base64_decode(mask_b64, strlen(mask_b64), 1 << 20, &mpng, &mlen, &err), API_OK);
    api_image mask;
    cr_assert_eq(api_image_decode(mpng, mlen, 1 << 20, &mask, &err), API_OK, "%s", err.detail);
    cr_assert_eq(mask.channels, 1);
    long long counted = 0;
    for (int i = 0; i < 70 * 50; i++) {
        cr_assert_leq(mask.pixels[i], 2); /* class ids for a several-class model */
        cr_assert_eq(mask.pixels[i], res.labels[i], "the mask is the result's labels");
        counted += mask.pixels[i] != 0;
    }
    cr_assert_eq(counted, total);
    cr_assert_not_null(json_object_get(r, "overlay"));
    cr_assert_not_null(json_object_get(r, "probabilities"));
    json_t *t = json_object_get(r, "timings_ms");
    cr_assert_float_eq(json_real_value(json_object_get(t, "queue")), 1.5, 1e-9);
    cr_assert_geq(json_real_value(json_object_get(t, "total")), json_real_value(json_object_get(t, "inference")));
    api_image_free(&mask);
    free(mpng), free(png), free(text);
    json_decref(r);
    api_image_result_free(&res);
    api_image_ctx_free(ctx);
    lgms_model_free(m);
}

static void run_on_team(void *runner, void (*fn)(void *arg, int index, int count), void *arg) {
    lgms_threads_run(runner, fn, arg);
}

/* The mask and overlay drawn band by band on several threads are the whole-image ones. */
Test(reply, pngs_drawn_in_bands_are_the_whole_image_ones) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    int w = 333, h = 419; /* overlay ~420 KB of rows: 3 bands; mask 2 */
    uint8_t *grey = malloc((size_t)w * h), *labels = calloc((size_t)w * h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            grey[y * w + x] = (uint8_t)(x + 3 * y);
            int dx = x - 160, dy = y - 200; /* a disc of class 1 with a square of class 2 in it, across bands */
            labels[y * w + x] = dx * dx + dy * dy < 150 * 150 ? (abs(dx) < 40 && abs(dy) < 90 ? 2 : 1) : 0;
        }
    api_image_result res = {.image = {.pixels = grey, .width = w, .height = h, .channels = 1}, .labels = labels};
    api_options opts;
    api_options_init(&opts);
    uint8_t *want_overlay = malloc((size_t)w * h * 3), *want_mask = malloc((size_t)w * h);
    api_render_overlay(grey, 1, labels, w, h, opts.alpha, want_overlay);
    api_mask_pixels(labels, w, h, 0, want_mask);
    for (int threads = 1; threads <= 3; threads++) {
        lgms_threads *team = lgms_threads_new(threads);
        api_parallel par = {run_on_team, team, threads};
        api_image_pngs pngs;
        api_error err;
        cr_assert_eq(api_image_pngs_encode(&res, lgms_model_meta(m), &opts, &par, &pngs, &err), API_OK);
        lgms_threads_free(team);
        api_image mask, overlay;
        cr_assert_eq(api_png_decode_spng(pngs.mask.data, pngs.mask.len, 1 << 20, &mask, &err), API_OK);
        cr_assert_eq(api_png_decode_spng(pngs.overlay.data, pngs.overlay.len, 1 << 20, &overlay, &err), API_OK);
        cr_assert(!memcmp(mask.pixels, want_mask, (size_t)w * h), "%d threads: mask", threads);
        cr_assert(!memcmp(overlay.pixels, want_overlay, (size_t)w * h * 3), "%d threads: overlay", threads);
        api_image_free(&mask), api_image_free(&overlay);
        api_image_pngs_free(&pngs);
    }
    free(grey), free(labels), free(want_overlay), free(want_mask);
    lgms_model_free(m);
}

/* Pre- and postprocessing in bands on a state's 3 threads: the one-thread result. */
Test(reply, the_pipeline_on_three_threads_gives_the_one_thread_result) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    int w = 301, h = 257; /* 77 K pixels: past STAGE_BAND_PIXELS */
    uint8_t *px = malloc((size_t)w * h * 3), *png;
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        px[i] = (uint8_t)(i / 3 % (size_t)w + ((i * 2654435761u) >> 27));
    size_t len;
    cr_assert_eq(api_png_encode(px, w, h, 3, &png, &len), 0);
    api_options opts;
    api_options_init(&opts);
    opts.want_probabilities = 1;
    api_image_result res[2];
    for (int k = 0; k < 2; k++) {
        api_image_ctx *ctx = api_image_ctx_new(m, k ? 3 : 1);
        api_error err;
        cr_assert_eq(api_segment_image(ctx, png, len, 1 << 20, &opts, &res[k], &err), API_OK, "%s", err.detail);
        api_image_ctx_free(ctx);
    }
    cr_assert_eq(memcmp(res[0].labels, res[1].labels, (size_t)w * h), 0, "labels");
    cr_assert_eq(memcmp(res[0].prob, res[1].prob, (size_t)w * h), 0, "probabilities");
    int seen = 0;
    for (int c = 1; c < res[0].n_labels; c++) {
        const api_class_stats *a = &res[0].stats[c], *b = &res[1].stats[c];
        cr_assert(a->pixels == b->pixels && a->x0 == b->x0 && a->y0 == b->y0 && a->x1 == b->x1 && a->y1 == b->y1,
                  "class %d statistics", c);
        seen += a->pixels > 0 && a->y0 < h / 3 && a->y1 > 2 * h / 3; /* a class across the bands */
    }
    cr_assert(seen, "no class spans the bands: the statistics test nothing");
    api_image_result_free(&res[0]), api_image_result_free(&res[1]);
    free(px), free(png);
    lgms_model_free(m);
}

Test(reply, the_command_line_writes_the_same_pngs_as_files) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    api_image_ctx *ctx = api_image_ctx_new(m, 1);
    size_t len;
    uint8_t *png = test_png(&len);
    api_options opts;
    api_options_init(&opts);
    api_image_result res;
    api_error err;
    cr_assert_eq(api_segment_image(ctx, png, len, 1 << 20, &opts, &res, &err), API_OK, "%s", err.detail);
    char dir[] = "/tmp/lgmsd-reply-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(api_image_write_files(&res, api_image_ctx_meta(ctx), &opts, dir, "scan", &err), API_OK, "%s",
                 err.detail);
    api_image_pngs pngs;
    cr_assert_eq(api_image_pngs_encode(&res, api_image_ctx_meta(ctx), &opts, NULL, &pngs, &err), API_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/scan_mask.png", dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert(n == pngs.mask.len && !memcmp(buf, pngs.mask.data, n), "the file is the reply's mask PNG");
    unlink(path);
    snprintf(path, sizeof path, "%s/scan_overlay.png", dir);
    cr_assert_eq(access(path, R_OK), 0);
    unlink(path);
    rmdir(dir);
    cr_assert_eq(api_write_file("/nonexistent-dir/x.png", "x", 1, &err), API_INTERNAL);
    cr_assert(strstr(err.detail, "No such file or directory"), "errno named: %s", err.detail);
    api_image_pngs_free(&pngs);
    api_image_result_free(&res);
    free(png);
    api_image_ctx_free(ctx);
    lgms_model_free(m);
}

Test(reply, undecodable_image_is_refused_with_its_status) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    api_image_ctx *ctx = api_image_ctx_new(m, 1);
    api_options opts;
    api_options_init(&opts);
    api_image_result res;
    api_error err;
    cr_assert_eq(api_segment_image(ctx, (const uint8_t *)"\x89PNG\r\n\x1a\nxx", 10, 100, &opts, &res, &err),
                 API_UNPROCESSABLE);
    cr_assert_null(res.labels);
    api_image_ctx_free(ctx);
    lgms_model_free(m);
}

Test(reply, floats_are_written_as_the_shortest_text_that_reads_back) {
    const float values[] = {0.4f, 0.485f, 0.229f, 1.0f / 255, 0.5f, 1e-7f, 3.14159274f, 123456.789f};
    const char *want[] = {"0.4", "0.485", "0.229", "0.003921569", "0.5", "1e-7", "3.1415927", "123456.79"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *a = json_pack("[o]", api_json_f32(values[i]));
        char *s = api_json_dump(a, NULL);
        char expect[64];
        snprintf(expect, sizeof expect, "[%s]", want[i]);
        cr_assert_str_eq(s, expect, "%.9g", (double)values[i]);
        cr_assert_eq(strtof(s + 1, NULL), values[i], "reads back");
        free(s);
        json_decref(a);
    }
}

Test(reply, window_follows_the_dicom_linear_rule) {
    uint16_t deep[6] = {0, 999, 1000, 1040, 1440, 4095};
    uint8_t px[6];
    api_image img = {.pixels = px, .deep = deep, .width = 6, .height = 1, .channels = 1, .source_depth = 16};
    api_window w = {API_WINDOW_SET, 1240, 400}; /* 1040 .. 1439 onto 0 .. 255 */
    api_image_apply_window(&img, &w);
    const uint8_t want[6] = {0, 0, 0, 0, 255, 255};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(px[i], want[i], "sample %u -> %u", deep[i], px[i]);
    uint16_t ramp[3] = {100, 300, 500};
    img.deep = ramp, img.width = 3;
    api_window a = {API_WINDOW_AUTO, 0, 0};
    api_image_apply_window(&img, &a);
    cr_assert(px[0] == 0 && px[2] == 255 && px[1] > 125 && px[1] < 130, "%u %u %u", px[0], px[1], px[2]);
    cr_assert_float_eq(a.width, 401, 1e-9);
    cr_assert_float_eq(a.center, 300.5, 1e-9);
}

Test(reply, models_listing) {
    lgms_model *a = load("fixtures/small-3class.lgms"), *b = load("fixtures/official-1class.lgms");
    api_model_entry entries[2] = {{"tri", "fixtures/small-3class.lgms", a}, {"busi", "x.lgms", b}};
    char *s = api_models_json(entries, 2, "busi");
    json_error_t e;
    json_t *r = json_loads(s, 0, &e);
    cr_assert_not_null(r, "%s", e.text);
    cr_assert_str_eq(json_string_value(json_object_get(r, "default")), "busi");
    json_t *second = json_array_get(json_object_get(r, "models"), 1);
    cr_assert(json_is_true(json_object_get(second, "default")));
    cr_assert_eq(json_integer_value(json_object_get(second, "parameters")), 2321393);
    cr_assert_eq(json_integer_value(json_object_get(second, "spatial_dims")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(second, "preprocessing"), "channel_order")),
                     "bgr");
    cr_assert(strstr(s, "\"mean\":[0.485,0.456,0.406]"), "shortest floats: %s", s);
    json_decref(r);
    free(s);
    lgms_model_free(a), lgms_model_free(b);
}

Test(reply, shipped_example_config_parses) {
    lgmsd_config c;
    char err[512];
    lgmsd_config_defaults(&c);
    cr_assert_eq(lgmsd_config_apply_file(&c, "../config/lgmsd.ini", err, sizeof err), LGMSD_CONFIG_OK, "%s", err);
    cr_assert_eq(c.n_models, 1);
    cr_assert_eq(c.port, 8080);
}
