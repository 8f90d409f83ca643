/* models.h - the GET /v1/models document: loaded models and their metadata. */
#ifndef LGMS_API_MODELS_H
#define LGMS_API_MODELS_H

#include "../engine/lgms.h"

typedef struct {
    const char *name;
    const char *path;
    const lgms_model *model;
} api_model_entry;

char *api_models_json(const api_model_entry *models, int n, const char *default_name);

#endif
