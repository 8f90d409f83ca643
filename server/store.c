/* store.c - choosing the job store, and what every call holds (store.h). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

const lgmsd_store_backend *lgmsd_store_pick(const char *setting) {
    if (!setting[0] || !strcmp(setting, "memory")) return &lgmsd_store_memory;
    if (!strncmp(setting, "redis://", 8)) return &lgmsd_store_redis;
    return NULL;
}

void lgmsd_store_call_free(lgmsd_store_call *c) {
    free(c->upload);
    free(c->body);
    c->upload = NULL, c->body = NULL;
}
