/* segment.c - `lgmsd segment FILE|FOLDER...`: the served pipeline on files. Images (2-D
 * model): NAME_mask.png and NAME_overlay.png and per-class pixel counts. NIfTI volumes
 * (3-D model): NAME_labels.nii.gz and NAME_montage.png, per-class volumes. A folder stands
 * for the files in it that the model takes, sorted by name. On a terminal, progress goes
 * to stderr as n/total with a bar. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/dicom.h"
#include "../api/reply.h"
#include "../api/segment_image.h"
#include "../api/segment_volume.h"
#include "../server/cpus.h"
#include "../server/files.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lgmsd segment FILE|FOLDER... [--model FILE] [--out DIR] [--threshold T] [--alpha A]\n"
               "                     [--window auto|C,W] [--probabilities] [--frame N|all] [--dicom-seg] [--dicom-sc]\n"
               "Segments PNG/JPEG/DICOM files with a 2-D model (default: the shipped demo model) and writes\n"
               "DIR/NAME_mask.png and DIR/NAME_overlay.png (and NAME_probabilities.png; DICOM: per frame, and\n"
               "NAME_seg.dcm / NAME_overlay.dcm with --dicom-seg / --dicom-sc); with a 3-D model\n"
               "(--model), NIfTI volumes (.nii, .nii.gz) into DIR/NAME_labels.nii.gz and DIR/NAME_montage.png.\n"
               "A FOLDER stands for the files in it the model takes, sorted. DIR defaults to the current\n"
               "folder and is created if missing. Two inputs with the same NAME are refused (their outputs\n"
               "would overwrite each other). Exit codes: 0 all done, 1 a file failed, 2 usage.\n");
}

/* The file name without folder and extension(s): scan.nii.gz -> scan. */
static void file_stem(const char *path, char *stem, size_t cap) {
    const char *base = strrchr(path, '/');
    snprintf(stem, cap, "%s", base ? base + 1 : path);
    size_t n = strlen(stem);
    if (n > 7 && !strcasecmp(stem + n - 7, ".nii.gz"))
        stem[n - 7] = 0;
    else {
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
    }
}

static int has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && !strcasecmp(name + n - k, suffix);
}

/* A DICOM Part 10 file, whatever its name (PACS exports often have none). */
static int is_dicom_file(const char *path) {
    uint8_t head[132];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    return api_dicom_detect(head, n);
}

static int takes(const char *dir, const char *name, int volumes) {
    if (name[0] == '.') return 0;
    if (volumes) return has_suffix(name, ".nii") || has_suffix(name, ".nii.gz");
    if (has_suffix(name, ".png") || has_suffix(name, ".jpg") || has_suffix(name, ".jpeg") || has_suffix(name, ".dcm"))
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return is_dicom_file(path);
}

typedef struct {
    char **paths;
    size_t n, cap;
} file_list;

static int add_path(file_list *l, const char *path) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **np = realloc(l->paths, cap * sizeof *np);
        if (!np) return -1;
        l->paths = np, l->cap = cap;
    }
    return (l->paths[l->n] = strdup(path)) ? (int)(l->n++, 0) : -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Arguments to the list of files: a folder gives its files the model takes, sorted. */
static int collect(file_list *l, char **args, int n, int volumes) {
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(args[i], &sb)) {
            fprintf(stderr, "lgmsd segment: %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (add_path(l, args[i])) return -1;
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            fprintf(stderr, "lgmsd segment: cannot open folder %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        size_t first = l->n;
        for (struct dirent *e; (e = readdir(d));) {
            if (!takes(args[i], e->d_name, volumes)) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", args[i], e->d_name);
            if (add_path(l, path)) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
        if (l->n == first)
            fprintf(stderr, "lgmsd segment: %s holds no %s\n", args[i],
                    volumes ? "NIfTI volumes (.nii, .nii.gz)" : "PNG, JPEG or DICOM images");
        qsort(l->paths + first, l->n - first, sizeof *l->paths, cmp_str);
    }
    return 0;
}

/* Two inputs whose outputs would overwrite each other (x.png and x.jpg). */
static int stems_collide(const file_list *l) {
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = i + 1; j < l->n; j++) {
            char a[1024], b[1024];
            file_stem(l->paths[i], a, sizeof a);
            file_stem(l->paths[j], b, sizeof b);
            if (!strcmp(a, b)) {
                fprintf(stderr,
                        "lgmsd segment: %s and %s would both write %s_*: rename one, or segment them into "
                        "different --out folders\n",
                        l->paths[i], l->paths[j], a);
                return 1;
            }
        }
    return 0;
}

static void progress(const char *what, int done, int total) {
    if (!isatty(2)) return;
    int width = 30, filled = total ? done * width / total : width;
    fprintf(stderr, "\r%-24.24s [%.*s%*s] %d/%d", what, filled, "##############################", width - filled, "",
            done, total);
    if (done == total) fprintf(stderr, "\n");
}

static void print_classes(const char *path, const lgms_meta *mt, const api_image_result *r, const char *what) {
    printf("%s%s: %dx%d", path, what, r->image.width, r->image.height);
    for (int c = 1; c < r->n_labels; c++)
        printf(", %s %llu px (%.2f%%)", mt->class_names[c - 1], (unsigned long long)r->stats[c].pixels,
               100.0 * (double)r->stats[c].pixels / ((double)r->image.width * r->image.height));
    printf("\n");
}

/* A DICOM file: its frame(s), PNGs per frame, and the SEG / secondary capture asked for. */
static int dicom_one(api_image_ctx *ctx, const char *model_name, const char *path, const char *out,
                     const api_options *opts) {
    const lgms_meta *mt = api_image_ctx_meta(ctx);
    char err[900], stem[1024];
    uint8_t *bytes;
    size_t len;
    if (lgmsd_read_file(path, (size_t)1 << 31, &bytes, &len, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s\n", err);
        return -1;
    }
    file_stem(path, stem, sizeof stem);
    api_dicom_result r;
    api_error e;
    api_status st = api_segment_dicom(ctx, bytes, len, &LGMSD_CLI_DICOM_LIMITS, opts, &r, &e);
    free(bytes);
    if (!st) st = api_dicom_write_files(&r, mt, opts, model_name, out, stem, &e);
    if (st) {
        fprintf(stderr, "lgmsd segment: %s: %s\n", path, e.detail);
        if (r.src) api_dicom_result_free(&r);
        return -1;
    }
    for (int i = 0; i < r.n; i++) {
        char what[32] = "";
        if (r.n > 1 || r.info.frames > 1) snprintf(what, sizeof what, " frame %d", r.frames[i] + 1);
        print_classes(path, mt, &r.results[i], what);
    }
    fflush(stdout);
    api_dicom_result_free(&r);
    return 0;
}

static int image_one(api_image_ctx *ctx, const char *model_name, const char *path, const char *out,
                     const api_options *opts) {
    if (is_dicom_file(path)) return dicom_one(ctx, model_name, path, out, opts);
    const lgms_meta *mt = api_image_ctx_meta(ctx);
    char err[900], stem[1024];
    api_image img;
    api_window applied;
    if (lgmsd_read_image(path, opts, &img, &applied, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s\n", err);
        return -1;
    }
    api_image_result r;
    api_error e;
    file_stem(path, stem, sizeof stem);
    if (api_segment_decoded(ctx, &img, opts, &applied, &r, &e) || api_image_write_files(&r, mt, opts, out, stem, &e)) {
        fprintf(stderr, "lgmsd segment: %s: %s\n", path, e.detail);
        api_image_free(&img);
        api_image_result_free(&r);
        return -1;
    }
    print_classes(path, mt, &r, "");
    fflush(stdout);
    api_image_result_free(&r);
    return 0;
}

static int show_patches(void *arg, int done, int total) {
    progress(arg, done, total);
    return 0;
}

static int volume_one(lgms_state *st, const lgms_model *m, const char *path, const char *out) {
    const lgms_meta *mt = lgms_model_meta(m);
    char err[900], stem[1024];
    uint8_t *bytes;
    size_t len;
    if (lgmsd_read_file(path, (size_t)4 << 30, &bytes, &len, err, sizeof err)) {
        fprintf(stderr, "lgmsd segment: %s\n", err);
        return -1;
    }
    file_stem(path, stem, sizeof stem);
    api_volume_result r;
    api_error e;
    /* local files are trusted with more than the daemon's defaults, but never past what fits */
    api_volume_limits lim = {(uint64_t)1 << 31, (uint64_t)1 << 31, 1 << 20};
    api_status st_code = api_segment_volume(st, m, bytes, len, &lim, show_patches, stem, &r, &e);
    free(bytes);
    if (st_code || api_volume_write_files(&r, out, stem, &e)) {
        fprintf(stderr, "lgmsd segment: %s: %s\n", path, e.detail);
        if (!st_code) api_volume_result_free(&r);
        return -1;
    }
    printf("%s: %dx%dx%d voxels (%.3gx%.3gx%.3g mm), %d patches in %.1f s", path, r.nx, r.ny, r.nz, r.spacing[0],
           r.spacing[1], r.spacing[2], r.patches, r.seconds);
    for (int c = 1; c < r.n_labels; c++)
        printf(", %s %.1f mL", mt->class_names[c - 1], r.ml[c]);
    printf("\n");
    fflush(stdout);
    api_volume_result_free(&r);
    return 0;
}

int cmd_segment(int argc, char **argv) {
    static const struct option flags[] = {{"model", required_argument, 0, 'm'},
                                          {"out", required_argument, 0, 'o'},
                                          {"threshold", required_argument, 0, 't'},
                                          {"alpha", required_argument, 0, 'a'},
                                          {"window", required_argument, 0, 'w'},
                                          {"probabilities", no_argument, 0, 'p'},
                                          {"frame", required_argument, 0, 'f'},
                                          {"dicom-seg", no_argument, 0, 'S'},
                                          {"dicom-sc", no_argument, 0, 'C'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    const char *model_path = NULL, *out = ".";
    api_options opts;
    api_options_init(&opts);
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:t:a:w:pf:SCh", flags, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 't':
            if (lgmsd_option_flag("segment", &opts, "threshold", optarg)) return 2;
            break;
        case 'a':
            if (lgmsd_option_flag("segment", &opts, "alpha", optarg)) return 2;
            break;
        case 'w':
            if (lgmsd_option_flag("segment", &opts, "window", optarg)) return 2;
            break;
        case 'p': opts.want_probabilities = 1; break;
        case 'f':
            if (lgmsd_option_flag("segment", &opts, "frame", optarg)) return 2;
            break;
        case 'S': opts.want_dicom_seg = 1; break;
        case 'C': opts.want_dicom_sc = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': fprintf(stderr, "lgmsd segment: %s needs a value (see --help)\n", argv[optind - 1]); return 2;
        default: fprintf(stderr, "lgmsd segment: unknown option %s (see --help)\n", argv[optind - 1]); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "lgmsd segment: name at least one image, volume or folder (see --help)\n");
        return 2;
    }
    lgms_model *m = lgmsd_load_model_or_report("segment", model_path);
    if (!m) return 1;
    const lgms_meta *mt = lgms_model_meta(m);
    int volumes = mt->spatial_dims == 3, failures = 0;
    file_list files = {0};
    int rc = 2;
    if (collect(&files, argv + optind, argc - optind, volumes) || stems_collide(&files)) goto out;
    if (!files.n) {
        fprintf(stderr, "lgmsd segment: nothing to segment\n");
        goto out;
    }
    if (lgmsd_make_dir("segment", out)) goto out;
    rc = 1;
    int cpus = lgmsd_available_cpus(NULL);
    if (volumes) {
        lgms_state *st = lgms_state_new(m);
        if (!st || lgms_state_set_threads(st, cpus)) {
            fprintf(stderr, "lgmsd segment: out of memory for the engine\n");
        } else {
            for (size_t i = 0; i < files.n; i++) {
                if (files.n > 1 && isatty(2)) fprintf(stderr, "volume %zu/%zu\n", i + 1, files.n);
                failures += volume_one(st, m, files.paths[i], out) != 0;
            }
            rc = failures ? 1 : 0;
        }
        lgms_state_free(st);
    } else {
        api_image_ctx *ctx = api_image_ctx_new(m, cpus);
        if (!ctx) {
            fprintf(stderr, "lgmsd segment: out of memory for the engine\n");
        } else {
            for (size_t i = 0; i < files.n; i++) {
                failures += image_one(ctx, mt->name, files.paths[i], out, &opts) != 0;
                progress("images", (int)i + 1, (int)files.n);
            }
            rc = failures ? 1 : 0;
        }
        api_image_ctx_free(ctx);
    }
    if (failures) fprintf(stderr, "lgmsd segment: %d of %zu file(s) failed\n", failures, files.n);
out:
    for (size_t i = 0; i < files.n; i++)
        free(files.paths[i]);
    free(files.paths);
    lgms_model_free(m);
    return rc;
}
