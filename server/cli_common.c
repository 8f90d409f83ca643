/* cli_common.c - helpers shared by the subcommands: default model lookup, timing. */
#include <errno.h>
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

int lgmsd_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len, char *err, size_t errlen) {
    *data = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= max_bytes) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max_bytes);
            return -1;
        }
        unsigned char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        return -1;
    }
    *data = buf, *len = n;
    return 0;
}

int lgmsd_read_image(const char *path, api_image *img, char *err, size_t errlen) {
    unsigned char *data;
    size_t len;
    memset(img, 0, sizeof *img);
    if (lgmsd_read_file(path, (size_t)1 << 31, &data, &len, err, errlen)) return -1;
    char inner[400];
    int rc = api_image_decode(data, len, (uint64_t)1 << 32, img, inner, sizeof inner);
    free(data);
    if (rc) snprintf(err, errlen, "%.400s: %.400s", path, inner);
    return rc ? -1 : 0;
}

int lgmsd_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (fclose(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
