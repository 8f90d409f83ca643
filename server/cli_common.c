/* cli_common.c - helpers shared by the subcommands: default model lookup, timing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef LGMSD_MODEL_DIR
#define LGMSD_MODEL_DIR "/usr/share/lgmsd/models"
#endif
#define LGMSD_DEFAULT_MODEL_FILE "lgmsnet-phantom.lgms"

double lgmsd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *lgmsd_default_model_path(void) {
    static char path[PATH_MAX];
    const char *env = getenv("LGMSD_DEFAULT_MODEL");
    if (env && *env) return env;
    snprintf(path, sizeof path, "%s/%s", LGMSD_MODEL_DIR, LGMSD_DEFAULT_MODEL_FILE);
    if (access(path, R_OK) == 0) return path;
    /* next to the binary in a source tree: build/lgmsd -> models/ */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%.3000s/../models/%s", exe, LGMSD_DEFAULT_MODEL_FILE);
            if (access(path, R_OK) == 0) return path;
        }
    }
    snprintf(path, sizeof path, "models/%s", LGMSD_DEFAULT_MODEL_FILE);
    return path;
}

lgms_model *lgmsd_load_model_or_report(const char *path) {
    lgms_model *m = NULL;
    char err[512];
    if (!path) path = lgmsd_default_model_path();
    if (lgms_model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "lgmsd: %s\n", err);
        return NULL;
    }
    return m;
}
