/* eval.c - `lgmsd eval IMAGES_DIR MASKS_DIR`: score a model through exactly the
 * served pipeline (decode, preprocess, engine, label map at the original size) against
 * ground-truth masks: per image and mean IoU, Dice, precision, recall, HD95. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../api/image.h"
#include "../api/segment_image.h"
#include "../server/cpus.h"
#include "cli.h"
#include "evalmetrics.h"

static int is_image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    return n[0] != '.' && dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The mask for an image: same file name, or the same stem with .png. */
static int find_mask(const char *dir, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f) return fclose(f), 0;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", name);
    char *dot = strrchr(stem, '.');
    if (dot) *dot = 0;
    snprintf(path, cap, "%s/%s.png", dir, stem);
    f = fopen(path, "rb");
    if (f) return fclose(f), 0;
    return -1;
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"json", no_argument, 0, 'j'}, {"threshold", required_argument, 0, 't'},
        {"no-hd95", no_argument, 0, 'n'},     {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL;
    int as_json = 0, with_hd = 1, c;
    api_options o;
    api_options_init(&o);
    o.want_overlay = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:jt:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'j': as_json = 1; break;
        case 't':
            if (lgmsd_option_flag("eval", &o, "threshold", optarg)) return 2;
            break;
        case 'n': with_hd = 0; break;
        case 'h':
            printf("usage: lgmsd eval [--model FILE] [--json] [--threshold T] [--no-hd95] IMAGES_DIR MASKS_DIR\n"
                   "Masks share the image's file name (or its stem + .png). One-class models: mask > 127 is\n"
                   "foreground. Several classes: mask values are class ids; scores are averaged over classes.\n");
            return 0;
        case ':': fprintf(stderr, "lgmsd eval: %s needs a value (see --help)\n", argv[optind - 1]); return 2;
        default: fprintf(stderr, "lgmsd eval: unknown option %s (see --help)\n", argv[optind - 1]); return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "lgmsd eval: name IMAGES_DIR and MASKS_DIR (usage: lgmsd eval [--model FILE] [--json] "
                        "[--threshold T] [--no-hd95] IMAGES_DIR MASKS_DIR)\n");
        return 2;
    }
    const char *img_dir = argv[optind], *mask_dir = argv[optind + 1];
    DIR *d = opendir(img_dir);
    if (!d) {
        fprintf(stderr, "lgmsd eval: cannot open %s: %s\n", img_dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_image_name(e->d_name)) continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) break;
        names = nn;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    lgms_model *m = lgmsd_load_model_or_report("eval", model_path);
    if (!m) return 1;
    const lgms_meta *mt = lgms_model_meta(m);
    if (mt->spatial_dims != 2) {
        fprintf(stderr, "lgmsd eval: model %s is 3-D; eval scores 2-D models on image folders\n", mt->name);
        lgms_model_free(m);
        return 2;
    }
    api_image_ctx *ctx = api_image_ctx_new(m, lgmsd_available_cpus(NULL));
    int n_cls = mt->num_classes == 1 ? 1 : mt->num_classes - 1, failures = 0, scored = 0, hd_count = 0;
    double sum_iou = 0, sum_dice = 0, sum_p = 0, sum_r = 0, sum_hd = 0, t0 = lgms_now();
    json_t *per_image = json_array();
    if (!as_json) printf("%-40s %8s %8s %8s %8s %8s\n", "image", "IoU", "Dice", "prec", "recall", "HD95");
    for (size_t i = 0; ctx && i < n; i++) {
        char ipath[4096], mpath[4096], err[1024];
        api_image img = {0}, mask = {0};
        api_image_result res = {0};
        api_error e;
        snprintf(ipath, sizeof ipath, "%s/%s", img_dir, names[i]);
        if (find_mask(mask_dir, names[i], mpath, sizeof mpath)) {
            fprintf(stderr, "lgmsd eval: no mask for %s in %s\n", names[i], mask_dir);
            failures++;
            continue;
        }
        api_window applied;
        if (lgmsd_read_image(ipath, &o, &img, &applied, err, sizeof err) ||
            lgmsd_read_image(mpath, NULL, &mask, NULL, err, sizeof err)) {
            fprintf(stderr, "lgmsd eval: %s\n", err);
            failures++;
        } else if (mask.width != img.width || mask.height != img.height) {
            fprintf(stderr, "lgmsd eval: %s is %dx%d but its mask is %dx%d\n", names[i], img.width, img.height,
                    mask.width, mask.height);
            failures++;
        } else if (api_segment_decoded(ctx, &img, &o, &applied, &res, &e)) {
            fprintf(stderr, "lgmsd eval: %s: %s\n", names[i], e.detail);
            failures++;
        } else {
            const uint8_t *labels = res.labels;
            int w = res.image.width, h = res.image.height;
            size_t np = (size_t)w * h;
            uint8_t *truth = malloc(np);
            for (size_t k = 0; truth && k < np; k++) {
                uint8_t v = mask.pixels[k * mask.channels];
                truth[k] = mt->num_classes == 1 ? v > 127 : v;
            }
            lgmsd_seg_scores avg = {0}, s;
            int hd_n = 0;
            for (int cls = 1; truth && cls <= n_cls; cls++) {
                lgmsd_score_class(labels, truth, w, h, cls, with_hd, &s);
                avg.iou += s.iou / n_cls, avg.dice += s.dice / n_cls;
                avg.precision += s.precision / n_cls, avg.recall += s.recall / n_cls;
                if (s.hd95 >= 0) avg.hd95 += s.hd95, hd_n++;
            }
            avg.hd95 = hd_n ? avg.hd95 / hd_n : -1;
            free(truth);
            scored++;
            sum_iou += avg.iou, sum_dice += avg.dice, sum_p += avg.precision, sum_r += avg.recall;
            if (avg.hd95 >= 0) sum_hd += avg.hd95, hd_count++;
            if (as_json)
                json_array_append_new(per_image,
                                      json_pack("{s:s, s:f, s:f, s:f, s:f, s:o}", "image", names[i], "iou", avg.iou,
                                                "dice", avg.dice, "precision", avg.precision, "recall", avg.recall,
                                                "hd95", avg.hd95 >= 0 ? json_real(avg.hd95) : json_null()));
            else if (avg.hd95 >= 0)
                printf("%-40s %8.4f %8.4f %8.4f %8.4f %8.2f\n", names[i], avg.iou, avg.dice, avg.precision, avg.recall,
                       avg.hd95);
            else
                printf("%-40s %8.4f %8.4f %8.4f %8.4f %8s\n", names[i], avg.iou, avg.dice, avg.precision, avg.recall,
                       "-");
        }
        api_image_result_free(&res);
        api_image_free(&img);
        api_image_free(&mask);
    }
    double secs = lgms_now() - t0;
    double k = scored ? 1.0 / scored : 0;
    if (as_json) {
        json_t *root = json_pack("{s:s, s:i, s:i, s:f, s:{s:f, s:f, s:f, s:f, s:o}, s:o}", "model", mt->name, "images",
                                 scored, "failures", failures, "seconds", secs, "mean", "iou", sum_iou * k, "dice",
                                 sum_dice * k, "precision", sum_p * k, "recall", sum_r * k, "hd95",
                                 hd_count ? json_real(sum_hd / hd_count) : json_null(), "per_image", per_image);
        char *s = json_dumps(root, JSON_INDENT(1));
        if (s) puts(s);
        free(s);
        json_decref(root);
    } else {
        json_decref(per_image);
        printf("%-40s %8.4f %8.4f %8.4f %8.4f ", "mean", sum_iou * k, sum_dice * k, sum_p * k, sum_r * k);
        if (hd_count)
            printf("%8.2f\n", sum_hd / hd_count);
        else
            printf("%8s\n", "-");
        printf("%d image(s) scored, %d failure(s), %.1f s\n", scored, failures, secs);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    api_image_ctx_free(ctx);
    lgms_model_free(m);
    return failures || !scored ? 1 : 0;
}
