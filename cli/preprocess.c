/* preprocess.c - `lgmsd preprocess`: write the network input tensor the server computes
 * for an image (decode, window, channel order, resize, normalisation) as a .npy, and on
 * request the decoded 8-bit image itself as a PNG, to check a deployment's decoding and
 * preprocessing against the training pipeline or another decoder. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "../api/image.h"
#include "../api/reply.h"
#include "cli.h"
#include "npy.h"

static const char usage[] =
    "usage: lgmsd preprocess [--model FILE] [--window auto|C,W] [--frame N] [--decoded out.png] "
    "--output out.npy IMAGE\n";

int cmd_preprocess(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"output", required_argument, 0, 'o'},
                                         {"window", required_argument, 0, 'w'},
                                         {"frame", required_argument, 0, 'f'},
                                         {"decoded", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *out_path = NULL, *decoded_path = NULL;
    api_options o;
    api_options_init(&o);
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:w:f:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'd': decoded_path = optarg; break;
        case 'w':
            if (lgmsd_option_flag("preprocess", &o, "window", optarg)) return 2;
            break;
        case 'f':
            if (lgmsd_option_flag("preprocess", &o, "frame", optarg)) return 2;
            break;
        case 'h': printf("%s", usage); return 0;
        case ':': fprintf(stderr, "lgmsd preprocess: %s needs a value (see --help)\n", argv[optind - 1]); return 2;
        default: fprintf(stderr, "lgmsd preprocess: unknown option %s (see --help)\n", argv[optind - 1]); return 2;
        }
    }
    if (!out_path || argc - optind != 1) {
        fprintf(stderr, "lgmsd preprocess: name --output out.npy and one IMAGE (see --help)\n");
        return 2;
    }
    lgms_model *m = lgmsd_load_model_or_report("preprocess", model_path);
    if (!m) return 1;
    const lgms_meta *mt = lgms_model_meta(m);
    char err[900];
    api_image img = {0};
    int rc = 1;
    size_t plane = (size_t)mt->input_width * mt->input_height;
    float *tensor = malloc(sizeof(float) * plane * mt->in_channels);
    uint8_t *scratch = malloc(plane * 3), *png = NULL;
    size_t png_len;
    api_error e;
    /* decoded and windowed exactly as the server does, before normalisation */
    if (!tensor || !scratch || lgmsd_read_image(argv[optind], &o, &img, NULL, err, sizeof err)) {
        fprintf(stderr, "lgmsd preprocess: %s\n", tensor && scratch ? err : "out of memory");
        goto out;
    }
    if (decoded_path && (api_png_encode(img.pixels, img.width, img.height, img.channels, &png, &png_len) ||
                         api_write_file(decoded_path, png, png_len, &e))) {
        fprintf(stderr, "lgmsd preprocess: %s\n", png ? e.detail : "cannot encode the decoded image");
        goto out;
    }
    lgms_image_u8 src = {img.pixels, img.width, img.height, img.channels};
    if (lgms_preprocess(mt, &src, scratch, tensor)) {
        fprintf(stderr, "lgmsd preprocess: preprocessing failed\n");
        goto out;
    }
    npy_array a = {.ndim = 4,
                   .shape = {1, (size_t)mt->in_channels, (size_t)mt->input_height, (size_t)mt->input_width},
                   .numel = plane * mt->in_channels,
                   .data = tensor};
    if (npy_write(out_path, &a, err, sizeof err)) {
        fprintf(stderr, "lgmsd preprocess: %s\n", err);
        goto out;
    }
    rc = 0;
out:
    free(tensor), free(scratch), free(png);
    api_image_free(&img);
    lgms_model_free(m);
    return rc;
}
