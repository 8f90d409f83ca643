/* cmd_segment.c - `lgmsd segment FILE...`: the served pipeline on files. Images (2-D
 * model): NAME_mask.png and NAME_overlay.png and per-class pixel counts. NIfTI volumes
 * (3-D model): NAME_labels.nii.gz and NAME_montage.png, per-class volumes, a progress bar. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/image.h"
#include "../api/render.h"
#include "../api/segment.h"
#include "../api/volseg.h"
#include "cli.h"
#include "cpus.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lgmsd segment FILE... [--model FILE] [--out DIR] [--threshold T] [--alpha A]\n"
               "Segments PNG/JPEG files with a 2-D model (default: the shipped demo model) and writes\n"
               "DIR/NAME_mask.png and DIR/NAME_overlay.png; with a 3-D model (--model), NIfTI volumes\n"
               "(.nii, .nii.gz) and writes DIR/NAME_labels.nii.gz and DIR/NAME_montage.png.\n"
               "DIR defaults to the current folder.\n");
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

/* The file name without folder and extension(s): scan.nii.gz -> scan. */
static void file_stem(const char *path, char *stem, size_t cap) {
    const char *base = strrchr(path, '/');
    snprintf(stem, cap, "%s", base ? base + 1 : path);
    size_t n = strlen(stem);
    if (n > 7 && !strcmp(stem + n - 7, ".nii.gz"))
        stem[n - 7] = 0;
    else {
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
    }
}

static int show_progress(void *arg, int done, int total) {
    const char *name = arg;
    int width = 30, filled = total ? done * width / total : width;
    fprintf(stderr, "\r%s [%.*s%*s] %d/%d patches", name, filled, "##############################", width - filled, "",
            done, total);
    if (done == total) fprintf(stderr, "\n");
    return 0;
}

static int segment_volume(lgms_state *st, const lgms_model *m, const char *path, const char *out) {
    const lgms_meta *mt = lgms_model_meta(m);
    char err[900], stem[1024], dst[4096];
    uint8_t *bytes;
    size_t len;
    if (lgmsd_read_file(path, (size_t)4 << 30, &bytes, &len, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s\n", err);
        return -1;
    }
    file_stem(path, stem, sizeof stem);
    api_volume_result r;
    /* local files are trusted with more than the daemon's defaults, but never past what fits */
    api_volume_limits lim = {(uint64_t)1 << 31, (uint64_t)1 << 31, 1 << 20};
    int st_code =
        api_volume_segment(st, m, bytes, len, &lim, isatty(2) ? show_progress : NULL, stem, &r, err, sizeof err);
    free(bytes);
    if (st_code) {
        fprintf(stderr, "lgmsd segment: %s: %s\n", path, err);
        return -1;
    }
    int rc = 0;
    snprintf(dst, sizeof dst, "%s/%s_labels.nii.gz", out, stem);
    if (lgmsd_write_file(dst, r.nifti, r.nifti_len, err, sizeof err)) rc = -1;
    snprintf(dst, sizeof dst, "%s/%s_montage.png", out, stem);
    if (!rc && lgmsd_write_file(dst, r.montage, r.montage_len, err, sizeof err)) rc = -1;
    if (rc)
        fprintf(stderr, "lgmsd segment: %s\n", err);
    else {
        printf("%s: %dx%dx%d voxels (%.3gx%.3gx%.3g mm), %d patches in %.1f s", path, r.nx, r.ny, r.nz, r.spacing[0],
               r.spacing[1], r.spacing[2], r.patches, r.seconds);
        for (int c = 1; c < r.n_labels; c++)
            printf(", %s %.1f mL", mt->class_names[c - 1], r.ml[c]);
        printf("\n");
    }
    api_volume_result_free(&r);
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
    if (mt->spatial_dims == 3) {
        lgms_state *st = lgms_state_new(m);
        int failures = !st || lgms_state_set_threads(st, lgmsd_available_cpus(NULL));
        for (int i = optind; !failures && i < argc; i++)
            failures += segment_volume(st, m, argv[i], out) != 0;
        lgms_state_free(st);
        lgms_model_free(m);
        return failures ? 1 : 0;
    }
    api_segment_ctx *ctx = api_segment_ctx_new(m, lgmsd_available_cpus(NULL));
    int failures = 0;
    for (int i = optind; ctx && i < argc; i++)
        failures += segment_one(ctx, mt, argv[i], out, threshold > 0 ? threshold : mt->threshold, alpha) != 0;
    if (!ctx) fprintf(stderr, "lgmsd segment: out of memory\n");
    api_segment_ctx_free(ctx);
    lgms_model_free(m);
    return ctx && !failures ? 0 : 1;
}
