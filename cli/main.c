/* main.c - the lgmsd binary: dispatch to a subcommand. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef LGMSD_VERSION
#define LGMSD_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "lgmsd %s - LGMSNet medical image segmentation on CPUs\n\n"
            "usage: lgmsd COMMAND [options]\n\n"
            "commands:\n"
            "  serve        run the HTTP daemon (lgmsd serve --help lists every setting)\n"
            "  segment      segment image files, write mask and overlay PNGs\n"
            "  eval         score a model on images/ and masks/ folders (IoU, Dice, ...)\n"
            "  tensor       run the raw network on a float32 NCHW .npy\n"
            "  preprocess   write the input tensor the server computes for an image (.npy)\n"
            "  healthcheck  exit 0 if the daemon at --host/--port answers /readyz\n"
            "  version      print the version\n",
            LGMSD_VERSION);
}

int main(int argc, char **argv) {
    /* Workers call OpenBLAS concurrently; each call must stay single-threaded unless a
     * subcommand asks for more (see docs/architecture.md). */
    openblas_set_num_threads(1);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "segment")) return cmd_segment(argc - 1, argv + 1);
    if (!strcmp(cmd, "tensor")) return cmd_tensor(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "preprocess")) return cmd_preprocess(argc - 1, argv + 1);
    if (!strcmp(cmd, "healthcheck")) return cmd_healthcheck(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("lgmsd %s\n", LGMSD_VERSION);
        return 0;
    }
    fprintf(stderr, "lgmsd: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
