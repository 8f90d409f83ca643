/* cmd_segment.c - `lgmsd segment IMAGE...`: the served pipeline on files; writes
 * NAME_mask.png and NAME_overlay.png into --out and prints per-class pixel counts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../api/image.h"
#include "../api/render.h"
#include "../api/segment.h"
#include "cli.h"
#include "cpus.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lgmsd segment IMAGE... [--model FILE] [--out DIR] [--threshold T] [--alpha A]\n"
               "Segments PNG/JPEG files with the model (default: the shipped demo model) and writes\n"
               "DIR/NAME_mask.png and DIR/NAME_overlay.png (DIR defaults to the current folder).\n");
}

static int write_png(const char *dir, const char *stem, const char *suffix, const uint8_t *px, int w, int h, int ch) {
    char path[4096], err[512];
    uint8_t *png;
    size_t len;
    snprintf(path, sizeof path, "%s/%s_%s.png", dir, stem, suffix);
    if (api_png_encode(px, w, h, ch, &png, &len)) {
        fprintf(stderr, "lgmsd segment: cannot encode %s\n", path);
        return -1;
    }
    int rc = lgmsd_write_file(path, png, len, err, sizeof err);
    if (rc) fprintf(stderr, "lgmsd segment: %s\n", err);
    free(png);
    return rc;
}

static int segment_one(api_segment_ctx *ctx, const lgms_meta *mt, const char *path, const char *out, float threshold,
                       float alpha) {
    char err[900];
    api_image img;
    int rc = -1;
    uint8_t *labels = NULL, *buf = NULL;
    if (lgmsd_read_image(path, &img, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s\n", err);
        return -1;
    }
    if (api_segment_labels(ctx, img.pixels, img.width, img.height, img.channels, threshold, &labels, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s: %s\n", path, err);
        goto out;
    }
    char stem[1024];
    const char *base = strrchr(path, '/');
    snprintf(stem, sizeof stem, "%s", base ? base + 1 : path);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    buf = malloc((size_t)img.width * img.height * 3);
    if (!buf) goto out;
    api_mask_pixels(labels, img.width, img.height, mt->num_classes == 1, buf);
    if (write_png(out, stem, "mask", buf, img.width, img.height, 1)) goto out;
    api_render_overlay(img.pixels, img.channels, labels, img.width, img.height, alpha, buf);
    if (write_png(out, stem, "overlay", buf, img.width, img.height, 3)) goto out;
    int n_labels = mt->num_classes == 1 ? 2 : mt->num_classes;
    api_class_stats stats[LGMS_MAX_CLASSES + 1];
    api_label_stats(labels, img.width, img.height, n_labels, stats);
    printf("%s: %dx%d", path, img.width, img.height);
    for (int c = 1; c < n_labels; c++)
        printf(", %s %llu px (%.2f%%)", mt->class_names[c - 1], (unsigned long long)stats[c].pixels,
               100.0 * (double)stats[c].pixels / ((double)img.width * img.height));
    printf("\n");
    rc = 0;
out:
    free(labels), free(buf);
    api_image_free(&img);
    return rc;
}

int cmd_segment(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"out", required_argument, 0, 'o'},
                                         {"threshold", required_argument, 0, 't'},
                                         {"alpha", required_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *out = ".";
    float threshold = -1, alpha = 0.4f;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:t:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 't': threshold = strtof(optarg, NULL); break;
        case 'a': alpha = strtof(optarg, NULL); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || (threshold != -1 && !(threshold > 0 && threshold < 1)) || !(alpha >= 0 && alpha <= 1)) {
        usage(stderr);
        return 2;
    }
    struct stat sb;
    if (stat(out, &sb) && mkdir(out, 0755)) {
        fprintf(stderr, "lgmsd segment: cannot create %s\n", out);
        return 1;
    }
    lgms_model *m = lgmsd_load_model_or_report(model_path);
    if (!m) return 1;
    const lgms_meta *mt = lgms_model_meta(m);
    api_segment_ctx *ctx = api_segment_ctx_new(m, lgmsd_available_cpus(NULL));
    int failures = 0;
    for (int i = optind; ctx && i < argc; i++)
        failures += segment_one(ctx, mt, argv[i], out, threshold > 0 ? threshold : mt->threshold, alpha) != 0;
    if (!ctx) fprintf(stderr, "lgmsd segment: out of memory\n");
    api_segment_ctx_free(ctx);
    lgms_model_free(m);
    return ctx && !failures ? 0 : 1;
}
