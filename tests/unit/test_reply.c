/* test_reply.c - the JSON documents api/ builds: a segmentation reply (three-class
 * fixture model, through the whole worker pipeline) and the models listing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/base64.h"
#include "../../api/image.h"
#include "../../api/models.h"
#include "../../api/segment.h"
#include "../../config/config.h"

static lgms_model *load(const char *path) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(path, &m, err, sizeof err), LGMS_OK, "%s", err);
    return m;
}

Test(reply, segmentation_document) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    api_segment_ctx *ctx = api_segment_ctx_new(m, 1);
    uint8_t px[50 * 70 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 31);
    uint8_t *png;
    size_t len;
    cr_assert_eq(api_png_encode(px, 70, 50, 3, &png, &len), 0);
    api_segment_job job = {.image = png,
                           .image_len = len,
                           .max_pixels = 1 << 20,
                           .model_name = "tri",
                           .request_id = "req-1",
                           .queue_ms = 1.5};
    api_options_init(&job.opts);
    job.opts.want_probabilities = 1;
    api_segment_run(&job, ctx);
    cr_assert_eq(job.status, 200, "%s", job.body);
    json_error_t e;
    json_t *r = json_loads(job.body, 0, &e);
    cr_assert_not_null(r, "%s", e.text);
    cr_assert_str_eq(json_string_value(json_object_get(r, "request_id")), "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(r, "model")), "tri");
    cr_assert_eq(json_integer_value(json_object_get(r, "width")), 70);
    cr_assert_eq(json_integer_value(json_object_get(r, "height")), 50);
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
    cr_assert_eq(api_base64_decode(mask_b64, strlen(mask_b64), 1 << 20, &mpng, &mlen), 0);
    api_image mask;
    char err[256];
    cr_assert_eq(api_image_decode(mpng, mlen, 1 << 20, &mask, err, sizeof err), API_IMAGE_OK, "%s", err);
    cr_assert_eq(mask.channels, 1);
    long long counted = 0;
    for (int i = 0; i < 70 * 50; i++) {
        cr_assert_leq(mask.pixels[i], 2); /* class ids for a several-class model */
        counted += mask.pixels[i] != 0;
    }
    cr_assert_eq(counted, total);
    cr_assert_not_null(json_object_get(r, "overlay"));
    cr_assert_not_null(json_object_get(r, "probabilities"));
    json_t *t = json_object_get(r, "timings_ms");
    cr_assert_float_eq(json_real_value(json_object_get(t, "queue")), 1.5, 1e-9);
    cr_assert_geq(json_real_value(json_object_get(t, "total")), json_real_value(json_object_get(t, "inference")));
    api_image_free(&mask);
    free(mpng), free(png), free(job.body);
    json_decref(r);
    api_segment_ctx_free(ctx);
    lgms_model_free(m);
}

Test(reply, undecodable_image_is_a_problem_document) {
    lgms_model *m = load("fixtures/small-3class.lgms");
    api_segment_ctx *ctx = api_segment_ctx_new(m, 1);
    api_segment_job job = {.image = (const uint8_t *)"\x89PNG\r\n\x1a\nxx",
                           .image_len = 10,
                           .max_pixels = 100,
                           .model_name = "tri",
                           .request_id = "r2"};
    api_options_init(&job.opts);
    api_segment_run(&job, ctx);
    cr_assert_eq(job.status, 422);
    cr_assert(strstr(job.body, "\"status\":422") && strstr(job.body, "r2"), "%s", job.body);
    free(job.body);
    api_segment_ctx_free(ctx);
    lgms_model_free(m);
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
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(second, "preprocessing"), "channel_order")),
                     "bgr");
    json_decref(r);
    free(s);
    lgms_model_free(a), lgms_model_free(b);
}

Test(reply, shipped_example_config_parses) {
    lgmsd_config c;
    char err[512];
    lgmsd_config_defaults(&c);
    cr_assert_eq(lgmsd_config_apply_file(&c, "../config/lgmsd.ini", err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_models, 1);
    cr_assert_eq(c.port, 8080);
}
