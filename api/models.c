/* models.c - describe the loaded models as JSON (jansson). */
#include "models.h"

#include <jansson.h>
#include <string.h>

#include "json.h"

static const char *order_name(lgms_channel_order o) { return o == LGMS_ORDER_BGR ? "bgr" : "rgb"; }

static const char *resize_name(lgms_resize_filter f) {
    return f == LGMS_RESIZE_LANCZOS4 ? "lanczos4" : f == LGMS_RESIZE_NEAREST ? "nearest" : "bilinear";
}

char *api_models_json(const api_model_entry *models, int n, const char *default_name) {
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const lgms_meta *m = lgms_model_meta(models[i].model);
        json_t *classes = json_array();
        for (int c = 0; c < m->n_class_names; c++)
            json_array_append_new(classes, json_string(m->class_names[c]));
        json_t *o = json_pack(
            "{s:s, s:b, s:s, s:s, s:i, s:o, s:i, s:{s:i, s:i}, s:I, s:o, s:{s:s, s:s, s:[o,o,o], s:[o,o,o], s:o}, s:s}",
            "name", models[i].name, "default", default_name && !strcmp(models[i].name, default_name), "arch", m->arch,
            "model_name", m->name, "spatial_dims", m->spatial_dims, "classes", classes, "outputs", m->num_classes,
            "input", "width", m->input_width, "height", m->input_height, "parameters", (json_int_t)m->param_count,
            "threshold", api_json_f32(m->threshold), "preprocessing", "channel_order", order_name(m->channel_order),
            "resize", resize_name(m->resize), "mean", api_json_f32(m->mean[0]), api_json_f32(m->mean[1]),
            api_json_f32(m->mean[2]), "std", api_json_f32(m->std[0]), api_json_f32(m->std[1]), api_json_f32(m->std[2]),
            "extra_scale", api_json_f32(m->extra_scale), "source", m->source);
        if (o) json_object_set_new(o, "demonstration", json_boolean(m->demonstration));
        if (o && m->spatial_dims == 3) { /* volumes: the patch and the volume preprocessing instead */
            json_object_set_new(o, "input",
                                json_pack("{s:i, s:i, s:i}", "depth", m->input_depth, "height", m->input_height,
                                          "width", m->input_width));
            json_object_set_new(o, "preprocessing",
                                json_pack("{s:s, s:[o,o,o], s:[o,o], s:o, s:s}", "orientation",
                                          m->orient_ras ? "RAS" : "as stored", "spacing_mm",
                                          api_json_f32(m->spacing[0]), api_json_f32(m->spacing[1]),
                                          api_json_f32(m->spacing[2]), "intensity_window", api_json_f32(m->a_min),
                                          api_json_f32(m->a_max), "overlap", api_json_f32(m->overlap), "blend",
                                          m->blend_gaussian ? "gaussian" : "constant"));
            json_object_del(o, "threshold");
        }
        json_array_append_new(arr, o);
    }
    json_t *root = json_pack("{s:o, s:s?}", "models", arr, "default", default_name);
    char *s = api_json_dump(root, NULL);
    json_decref(root);
    return s;
}
