/* common.c - helpers shared by the subcommands: default model lookup, file input, flags. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/dicom.h"
#include "../server/files.h"
#include "cli.h"

#ifndef LGMSD_MODEL_DIR
#define LGMSD_MODEL_DIR "/usr/share/lgmsd/models"
#endif
#define LGMSD_DEFAULT_MODEL_FILE "lgmsnet-phantom.lgms"

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

lgms_model *lgmsd_load_model_or_report(const char *cmd, const char *path) {
    lgms_model *m = NULL;
    char err[512];
    if (!path) path = lgmsd_default_model_path();
    if (lgms_model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "lgmsd %s: %s\n", cmd, err);
        return NULL;
    }
    return m;
}

const api_dicom_limits LGMSD_CLI_DICOM_LIMITS = {(uint64_t)1 << 32, (uint64_t)1 << 32, 1 << 20};

int lgmsd_read_image(const char *path, const api_options *opts, api_image *img, api_window *applied, char *err,
                     size_t errlen) {
    uint8_t *data;
    size_t len;
    memset(img, 0, sizeof *img);
    if (lgmsd_read_file(path, (size_t)1 << 31, &data, &len, err, errlen)) return -1;
    api_error e;
    api_window win = opts ? opts->window : (api_window){API_WINDOW_NONE, 0, 0};
    api_status st;
    if (api_dicom_detect(data, len)) {
        api_dicom *d;
        api_dicom_info info;
        st = api_dicom_open(data, len, &LGMSD_CLI_DICOM_LIMITS, &d, &info, &e);
        if (!st) {
            st = api_dicom_frame(d, opts && opts->frame > 0 ? opts->frame - 1 : 0, &win, img, &e);
            api_dicom_close(d);
        }
    } else {
        st = api_image_decode(data, len, (uint64_t)1 << 32, img, &e);
        if (!st) api_image_apply_window(img, &win);
    }
    free(data);
    if (st) snprintf(err, errlen, "%.400s: %.400s", path, e.detail);
    if (applied) *applied = win;
    return st ? -1 : 0;
}

int lgmsd_option_flag(const char *cmd, api_options *o, const char *key, const char *value) {
    api_error e;
    if (!api_options_set(o, key, value, &e)) return 0;
    fprintf(stderr, "lgmsd %s: --%s %s: %s\n", cmd, key, value, e.detail);
    return -1;
}

int lgmsd_make_dir(const char *cmd, const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) { /* each parent, then the folder itself */
        int end = !*p;
        if (*p != '/' && !end) continue;
        *p = 0;
        struct stat sb;
        if (stat(path, &sb)) {
            if (mkdir(path, 0755) && errno != EEXIST) {
                fprintf(stderr, "lgmsd %s: cannot create %s: %s\n", cmd, path, strerror(errno));
                return -1;
            }
        } else if (!S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "lgmsd %s: %s is not a folder\n", cmd, path);
            return -1;
        }
        if (end) break;
        *p = '/';
    }
    if (access(dir, W_OK)) {
        fprintf(stderr, "lgmsd %s: cannot write in %s: %s\n", cmd, dir, strerror(errno));
        return -1;
    }
    return 0;
}
