/* tensor.c - `lgmsd tensor`: the raw network on a float32 NCHW .npy, N times, for
 * parity checks and timing. No pre- or post-processing. */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f) {
    fprintf(f, "usage: lgmsd tensor --model FILE --input in.npy --output out.npy [--threads T] [--blas-threads B] "
               "[--repeat N] [--profile] [--verbose]\n"
               "Runs the network on a float32 N x C x H x W array (N x C x D x H x W for a 3-D model; sides\n"
               "multiples of 32) and writes the logits in the same layout.\n"
               "T engine threads split every op (default 1); B OpenBLAS threads inside each (default 1).\n"
               "Timing (median of N runs; --verbose: every run) goes to stderr.\n");
}

int cmd_tensor(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'},
                                         {"blas-threads", required_argument, 0, 'b'},
                                         {"repeat", required_argument, 0, 'r'},
                                         {"profile", no_argument, 0, 'p'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL;
    int threads = 1, blas_threads = 1, repeat = 1, profile = 0, verbose = 0, c;
    while ((c = getopt_long(argc, argv, "m:i:o:t:b:r:pvh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'b': blas_threads = atoi(optarg); break;
        case 'r': repeat = atoi(optarg); break;
        case 'p': profile = 1; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!in_path || optind != argc || threads < 1 || threads > 256 || blas_threads < 1 || blas_threads > 256 ||
        repeat < 1) {
        usage(stderr);
        return 2;
    }
    openblas_set_num_threads(blas_threads);
    double t_load = lgms_now();
    lgms_model *m = lgmsd_load_model_or_report("tensor", model_path);
    if (!m) return 1;
    t_load = lgms_now() - t_load;
    const lgms_meta *meta = lgms_model_meta(m);
    npy_array in;
    char err[512];
    int rc = 1;
    if (npy_read(in_path, &in, err, sizeof err)) {
        fprintf(stderr, "lgmsd tensor: %s\n", err);
        lgms_model_free(m);
        return 1;
    }
    double t_state = lgms_now();
    lgms_state *st = lgms_state_new(m);
    t_state = lgms_now() - t_state;
    float *out = NULL;
    double *times = calloc((size_t)repeat, sizeof *times);
    int nd = meta->spatial_dims;
    if (in.ndim != nd + 2 || (int)in.shape[1] != meta->in_channels) {
        fprintf(stderr, "lgmsd tensor: input must be N x %d x %sH x W float32 for this %d-D model, got %d dimensions\n",
                meta->in_channels, nd == 3 ? "D x " : "", nd, in.ndim);
        goto done;
    }
    int n = (int)in.shape[0], d = nd == 3 ? (int)in.shape[2] : 1;
    int h = (int)in.shape[nd], w = (int)in.shape[nd + 1];
    size_t out_numel = (size_t)n * meta->num_classes * d * h * w;
    out = malloc(out_numel * sizeof *out);
    if (!st || !out || !times || lgms_state_set_threads(st, threads)) {
        fprintf(stderr, "lgmsd tensor: out of memory\n");
        goto done;
    }
    lgms_state_set_profiling(st, profile);
    for (int r = 0; r < repeat; r++) {
        double t0 = lgms_now();
        lgms_status fs = nd == 3 ? lgms_forward3d(st, in.data, n, d, h, w, out, err, sizeof err)
                                 : lgms_forward(st, in.data, n, h, w, out, err, sizeof err);
        if (fs) {
            fprintf(stderr, "lgmsd tensor: %s\n", err);
            goto done;
        }
        times[r] = lgms_now() - t0;
        if (verbose) fprintf(stderr, "run %d: %.2f ms\n", r + 1, 1e3 * times[r]);
    }
    if (verbose) {
        double read, pack;
        lgms_model_load_seconds(m, &read, &pack);
        fprintf(stderr,
                "cold start: load %.1f ms (read and fold %.1f, pack filters %.1f), state %.1f ms, first run %.1f ms\n",
                1e3 * t_load, 1e3 * read, 1e3 * pack, 1e3 * t_state, 1e3 * times[0]);
    }
    qsort(times, (size_t)repeat, sizeof *times, cmp_double);
    double flops = (nd == 3 ? lgms_model_flops3d(m, d, h, w) : lgms_model_flops(m, h, w)) * n;
    char shape[64];
    if (nd == 3)
        snprintf(shape, sizeof shape, "%dx%dx%dx%dx%d", n, meta->in_channels, d, h, w);
    else
        snprintf(shape, sizeof shape, "%dx%dx%dx%d", n, meta->in_channels, h, w);
    fprintf(stderr, "lgmsd tensor: %s, %d thread(s), median %.2f ms over %d run(s), %.1f GFLOP/s, scratch %.1f MiB\n",
            shape, threads, 1e3 * times[repeat / 2], repeat, flops / times[repeat / 2] / 1e9,
            lgms_state_scratch_bytes(st) / 1048576.0);
    if (profile) {
        lgms_profile p;
        lgms_state_profile(st, &p);
        for (int k = 0; k < LGMS_PROF_COUNT; k++)
            fprintf(stderr, "  %-16s %8.2f ms %8.2f GFLOP %7.1f GFLOP/s\n", lgms_prof_class_name(k), 1e3 * p.seconds[k],
                    p.flops[k] / 1e9, p.seconds[k] > 0 ? p.flops[k] / p.seconds[k] / 1e9 : 0.0);
    }
    if (out_path) {
        npy_array o = {.ndim = nd + 2, .numel = out_numel, .data = out};
        size_t dims3[5] = {(size_t)n, (size_t)meta->num_classes, (size_t)d, (size_t)h, (size_t)w};
        size_t dims2[4] = {(size_t)n, (size_t)meta->num_classes, (size_t)h, (size_t)w};
        memcpy(o.shape, nd == 3 ? dims3 : dims2, sizeof(size_t) * (size_t)(nd + 2));
        if (npy_write(out_path, &o, err, sizeof err)) {
            fprintf(stderr, "lgmsd tensor: %s\n", err);
            goto done;
        }
    }
    rc = 0;
done:
    free(times);
    free(out);
    npy_free(&in);
    lgms_state_free(st);
    lgms_model_free(m);
    return rc;
}
