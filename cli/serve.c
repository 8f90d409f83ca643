/* serve.c - `lgmsd serve`: read the configuration, load the models, run the daemon. */
#include <cblas.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/models.h"
#include "../config/config.h"
#include "../server/daemon.h"
#include "../server/log.h"
#include "cli.h"

extern char **environ;

/* A request's reply buffers (the filtered rows, deflate state and PNGs, base64, JSON: ~3 MB
 * at 512x512) are above glibc's initial mmap threshold, so every request mapped them fresh
 * and paid a page fault per 4 KiB on first touch: 0.4-0.7 ms a 512x512 request, 10% of
 * what the server adds to an inference (docs/performance.md). Below 4 MiB they now come
 * from the heap and stay there; at most 16 MiB of free heap top is kept per malloc arena
 * (a worker's or the loop's) before it goes back to the system. GLIBC_TUNABLES with
 * glibc.malloc settings takes precedence over this. */
static void tune_malloc(void) {
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "glibc.malloc.")) return;
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
}

int cmd_serve(int argc, char **argv) {
    static lgmsd_config cfg; /* large; lives for the whole run */
    char err[1024];
    lgmsd_config_result cr = lgmsd_config_load(&cfg, argc, argv, environ, err, sizeof err);
    if (cr == LGMSD_CONFIG_HELP) {
        lgmsd_config_print_help(stdout);
        return 0;
    }
    if (cr == LGMSD_CONFIG_ERROR) {
        fprintf(stderr, "lgmsd serve: %s\n", err);
        return 2;
    }
    if (cr == LGMSD_CONFIG_PRINT) {
        lgmsd_config_write_ini(stdout, &cfg);
        return 0;
    }
    int rc;
    lgmsd_log_set_level(cfg.log_level);
    openblas_set_num_threads(cfg.blas_threads); /* process-wide; workers call sgemm concurrently */
    signal(SIGPIPE, SIG_IGN);
    tune_malloc();
    if (cfg.n_models == 0) { /* nothing configured: the shipped demo model */
        snprintf(cfg.models[0].name, sizeof cfg.models[0].name, "default");
        snprintf(cfg.models[0].path, sizeof cfg.models[0].path, "%s", lgmsd_default_model_path());
        cfg.n_models = 1;
    }
    api_model_entry models[LGMSD_MAX_MODELS];
    int default_index = 0, loaded = 0;
    rc = 1;
    for (int i = 0; i < cfg.n_models; i++) {
        lgms_model *m = NULL;
        if (lgms_model_load(cfg.models[i].path, &m, err, sizeof err)) {
            lgmsd_log(LGMSD_LOG_ERROR, "model %s: %s", cfg.models[i].name, err);
            goto out;
        }
        models[i] = (api_model_entry){cfg.models[i].name, cfg.models[i].path, m};
        loaded++;
        const lgms_meta *mt = lgms_model_meta(m);
        char input[48];
        if (mt->spatial_dims == 3)
            snprintf(input, sizeof input, "%dx%dx%d patches", mt->input_width, mt->input_height, mt->input_depth);
        else
            snprintf(input, sizeof input, "input %dx%d", mt->input_width, mt->input_height);
        lgmsd_log(LGMSD_LOG_INFO, "model %s: %s (%s, %d-D, %lld parameters, %d output(s), %s)", cfg.models[i].name,
                  cfg.models[i].path, mt->name, mt->spatial_dims, (long long)mt->param_count, mt->num_classes, input);
        if (cfg.default_model[0] && !strcmp(cfg.default_model, cfg.models[i].name)) default_index = i;
    }
    rc = lgmsd_server_run(&cfg, models, loaded, default_index);
out:
    for (int i = 0; i < loaded; i++)
        lgms_model_free((lgms_model *)models[i].model);
    return rc;
}
