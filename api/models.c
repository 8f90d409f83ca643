/* models.c - describe the loaded models as JSON (jansson). */
#include "models.h"

#include <jansson.h>
#include <string.h>

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
            "{s:s, s:b, s:s, s:s, s:o, s:i, s:{s:i, s:i}, s:I, s:f, s:{s:s, s:s, s:[f,f,f], s:[f,f,f], s:f}, s:s}",
            "name", models[i].name, "default", default_name && !strcmp(models[i].name, default_name), "arch", m->arch,
            "model_name", m->name, "classes", classes, "outputs", m->num_classes, "input", "width", m->input_width,
            "height", m->input_height, "parameters", (json_int_t)m->param_count, "threshold", (double)m->threshold,
            "preprocessing", "channel_order", order_name(m->channel_order), "resize", resize_name(m->resize), "mean",
            (double)m->mean[0], (double)m->mean[1], (double)m->mean[2], "std", (double)m->std[0], (double)m->std[1],
            (double)m->std[2], "extra_scale", (double)m->extra_scale, "source", m->source);
        if (o && m->spatial_dims == 3) { /* volumes: the patch and the volume preprocessing instead */
            json_object_set_new(o, "spatial_dims", json_integer(3));
            json_object_set_new(o, "input",
                                json_pack("{s:i, s:i, s:i}", "depth", m->input_depth, "height", m->input_height,
                                          "width", m->input_width));
            json_object_set_new(o, "preprocessing",
                                json_pack("{s:s, s:[f,f,f], s:[f,f], s:f, s:s}", "orientation",
                                          m->orient_ras ? "RAS" : "as stored", "spacing_mm", (double)m->spacing[0],
                                          (double)m->spacing[1], (double)m->spacing[2], "intensity_window",
                                          (double)m->a_min, (double)m->a_max, "overlap", (double)m->overlap, "blend",
                                          m->blend_gaussian ? "gaussian" : "constant"));
            json_object_del(o, "threshold");
        }
        json_array_append_new(arr, o);
    }
    json_t *root = json_pack("{s:o, s:s?}", "models", arr, "default", default_name);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
