/* openapi.c - the API description (OpenAPI 3.0), kept beside the handlers it describes. */
#include "openapi.h"

#define SEGMENT_RESPONSES                                                                                              \
    "{"                                                                                                                \
    "\"200\":{\"description\":\"segmentation\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/"           \
    "components/schemas/Segmentation\"}}}},"                                                                           \
    "\"400\":{\"description\":\"malformed request or "                                                                 \
    "option\",\"content\":{\"application/problem+json\":{\"schema\":{\"$ref\":\"#/components/schemas/Problem\"}}}},"   \
    "\"401\":{\"description\":\"missing or wrong API key\"},\"404\":{\"description\":\"unknown model\"},"              \
    "\"413\":{\"description\":\"body or pixel count over the limit (named in detail)\"},"                              \
    "\"415\":{\"description\":\"not a PNG or JPEG, or an unsupported Content-Type\"},"                                 \
    "\"422\":{\"description\":\"corrupt or truncated image\"},"                                                        \
    "\"503\":{\"description\":\"queue full or draining; see Retry-After\"}}"

static const char document[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"lgmsd\",\"version\":\"1\",\"description\":\"LGMSNet medical image segmentation on CPUs. "
    "Upload a PNG or JPEG; the reply carries a base64 PNG mask, a base64 PNG overlay and per-class statistics at the "
    "image's original size. Demonstration weights ship by default: not for clinical use.\"},"
    "\"paths\":{"
    "\"/v1/segment\":{\"post\":{\"summary\":\"Segment an image with the default model\",\"operationId\":\"segment\","
    "\"parameters\":[{\"$ref\":\"#/components/parameters/threshold\"},{\"$ref\":\"#/components/parameters/alpha\"},"
    "{\"$ref\":\"#/components/parameters/overlay\"},{\"$ref\":\"#/components/parameters/outputs\"}],"
    "\"requestBody\":{\"$ref\":\"#/components/requestBodies/image\"},\"responses\":" SEGMENT_RESPONSES "}},"
    "\"/v1/models/{name}/segment\":{\"post\":{\"summary\":\"Segment an image with a named "
    "model\",\"operationId\":\"segmentWithModel\","
    "\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"$ref\":\"#/components/parameters/threshold\"},{\"$ref\":\"#/components/parameters/alpha\"},"
    "{\"$ref\":\"#/components/parameters/overlay\"},{\"$ref\":\"#/components/parameters/outputs\"}],"
    "\"requestBody\":{\"$ref\":\"#/components/requestBodies/image\"},\"responses\":" SEGMENT_RESPONSES "}},"
    "\"/v1/models\":{\"get\":{\"summary\":\"Loaded models and their metadata\",\"operationId\":\"listModels\","
    "\"responses\":{\"200\":{\"description\":\"models\",\"content\":{\"application/json\":{}}}}}},"
    "\"/healthz\":{\"get\":{\"summary\":\"Liveness: the process "
    "answers\",\"responses\":{\"200\":{\"description\":\"alive\"}}}},"
    "\"/readyz\":{\"get\":{\"summary\":\"Readiness: models loaded, warm-up passed, not draining\","
    "\"responses\":{\"200\":{\"description\":\"ready\"},\"503\":{\"description\":\"not ready\"}}}},"
    "\"/metrics\":{\"get\":{\"summary\":\"Prometheus text "
    "exposition\",\"responses\":{\"200\":{\"description\":\"metrics\","
    "\"content\":{\"text/plain\":{}}}}}},"
    "\"/openapi.json\":{\"get\":{\"summary\":\"This "
    "document\",\"responses\":{\"200\":{\"description\":\"OpenAPI\"}}}}},"
    "\"components\":{"
    "\"parameters\":{"
    "\"threshold\":{\"name\":\"threshold\",\"in\":\"query\",\"schema\":{\"type\":\"number\",\"exclusiveMinimum\":true,"
    "\"minimum\":0,"
    "\"exclusiveMaximum\":true,\"maximum\":1},\"description\":\"probability threshold (one-class models); default from "
    "the model file\"},"
    "\"alpha\":{\"name\":\"alpha\",\"in\":\"query\",\"schema\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1,"
    "\"default\":0.4}},"
    "\"overlay\":{\"name\":\"overlay\",\"in\":\"query\",\"schema\":{\"type\":\"boolean\",\"default\":true}},"
    "\"outputs\":{\"name\":\"outputs\",\"in\":\"query\",\"schema\":{\"type\":\"string\",\"default\":\"mask,overlay\"},"
    "\"description\":\"comma-separated subset of mask, overlay, probabilities\"}},"
    "\"requestBodies\":{\"image\":{\"required\":true,\"content\":{"
    "\"multipart/"
    "form-data\":{\"schema\":{\"type\":\"object\",\"required\":[\"image\"],\"properties\":{\"image\":{\"type\":"
    "\"string\",\"format\":\"binary\"}}}},"
    "\"image/png\":{\"schema\":{\"type\":\"string\",\"format\":\"binary\"}},"
    "\"image/jpeg\":{\"schema\":{\"type\":\"string\",\"format\":\"binary\"}},"
    "\"application/"
    "json\":{\"schema\":{\"type\":\"object\",\"required\":[\"image\"],\"properties\":{\"image\":{\"type\":\"string\","
    "\"format\":\"byte\"},"
    "\"threshold\":{\"type\":\"number\"},\"alpha\":{\"type\":\"number\"},\"overlay\":{\"type\":\"boolean\"},"
    "\"outputs\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"mask\",\"overlay\",\"probabilities\"]}}"
    "}}}}}},"
    "\"schemas\":{"
    "\"Png\":{\"type\":\"object\",\"properties\":{\"mime\":{\"type\":\"string\",\"enum\":[\"image/"
    "png\"]},\"base64\":{\"type\":\"string\",\"format\":\"byte\"}}},"
    "\"Segmentation\":{\"type\":\"object\",\"properties\":{\"request_id\":{\"type\":\"string\"},\"model\":{\"type\":"
    "\"string\"},"
    "\"width\":{\"type\":\"integer\"},\"height\":{\"type\":\"integer\"},\"threshold\":{\"type\":\"number\"},"
    "\"mask\":{\"$ref\":\"#/components/schemas/Png\"},\"overlay\":{\"$ref\":\"#/components/schemas/Png\"},"
    "\"probabilities\":{\"$ref\":\"#/components/schemas/Png\"},"
    "\"classes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"name\":{\"type\":\"string\"},"
    "\"pixels\":{\"type\":\"integer\"},\"fraction\":{\"type\":\"number\"},\"bbox\":{\"nullable\":true,\"type\":"
    "\"object\","
    "\"properties\":{\"x\":{\"type\":\"integer\"},\"y\":{\"type\":\"integer\"},\"width\":{\"type\":\"integer\"},"
    "\"height\":{\"type\":\"integer\"}}}}}},"
    "\"timings_ms\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}}},"
    "\"Problem\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"integer\"},\"detail\":{\"type\":\"string\"},\"request_id\":{\"type\":\"string\"}}}},"
    "\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\",\"description\":\"only when an API key "
    "file is configured\"}}"
    "}}";

const char *api_openapi_json(void) { return document; }
