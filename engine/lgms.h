/* lgms.h - public face of the LGMSNet CPU engine.
 *
 * One read-only lgms_model (weights, folded at load) is shared by all threads; each
 * thread owns an lgms_state (scratch arena, and optionally a small team of helper threads
 * that split each op: lgms_state_set_threads). The engine depends on libc, libm, pthreads
 * and OpenBLAS only: no sockets, no JSON.
 *
 * Typical use:
 *   lgms_model *m; char err[256];
 *   if (lgms_model_load("model.lgms", &m, err, sizeof err)) { ... }
 *   lgms_state *st = lgms_state_new(m);
 *   lgms_forward(st, input_nchw, 1, 256, 256, logits, err, sizeof err);
 */
#ifndef LGMS_H
#define LGMS_H

#include <stddef.h>
#include <stdint.h>

#define LGMS_MAX_CLASSES 64
#define LGMS_NAME_MAX 64

typedef enum {
    LGMS_OK = 0,
    LGMS_ERR_IO,       /* cannot open or read the file */
    LGMS_ERR_FORMAT,   /* not a model file, corrupt, truncated or unsupported */
    LGMS_ERR_MISMATCH, /* tensors do not match the declared architecture */
    LGMS_ERR_ARG,      /* illegal argument, e.g. an input size that is not a multiple of 32 */
    LGMS_ERR_NOMEM
} lgms_status;

typedef enum { LGMS_ORDER_RGB = 0, LGMS_ORDER_BGR = 1 } lgms_channel_order;
typedef enum { LGMS_RESIZE_BILINEAR = 0, LGMS_RESIZE_LANCZOS4 = 1, LGMS_RESIZE_NEAREST = 2 } lgms_resize_filter;

/* What the model file says about the network and how to feed it. */
typedef struct {
    char name[LGMS_NAME_MAX];
    char arch[32];    /* "lgmsnet2d" or "lgmsnet3d" */
    int spatial_dims; /* 2 or 3 */
    int in_channels;
    int num_classes; /* network outputs: 1 = sigmoid head, >1 = softmax/argmax head */
    int dims[5];
    int splits[4][2];
    int depths[3];
    int input_width, input_height;
    int input_depth; /* 3-D: the patch (roi) is input_depth x input_height x input_width */
    /* 3-D preprocessing: resample to spacing (mm, along x y z), CT window [a_min, a_max] ->
     * [0, 1], sliding window with overlap, blending constant (0) or Gaussian (1) */
    float spacing[3], a_min, a_max, overlap;
    int blend_gaussian;
    int orient_ras; /* 3-D: turn volumes to RAS+ voxel order first (model file: orientation RAS) */
    lgms_channel_order channel_order;
    lgms_resize_filter resize;
    float mean[3], std[3]; /* on the 0..1 scale, applied as (v/255 - mean)/std */
    float extra_scale;     /* multiplied after normalisation (1/255 for official main.py checkpoints) */
    float threshold;       /* probability threshold for a one-class head */
    int n_class_names;
    char class_names[LGMS_MAX_CLASSES][LGMS_NAME_MAX]; /* foreground classes (1-class head: one name) */
    char source[256];                                  /* provenance, free text */
    int demonstration; /* the file says its weights are for demonstration, not clinical use */
    int64_t param_count;
} lgms_meta;

typedef struct lgms_model lgms_model;
typedef struct lgms_state lgms_state;

/* Load and validate a model file. On failure *out is NULL and err names the problem. */
lgms_status lgms_model_load(const char *path, lgms_model **out, char *err, size_t errlen);
/* Same from bytes in memory (copied); used by tests and the fuzzer. */
lgms_status lgms_model_load_mem(const void *data, size_t size, lgms_model **out, char *err, size_t errlen);
void lgms_model_free(lgms_model *m);
const lgms_meta *lgms_model_meta(const lgms_model *m);
/* Where the load's time went, for cold-start reports: read = parse, check and fold the file's
 * tensors into the layers; pack = transform and pack filters for the kernels (Winograd, 1x1). */
void lgms_model_load_seconds(const lgms_model *m, double *read, double *pack);

/* FLOPs (2 per multiply-add) of one forward pass at h x w, convolutions and matmuls. */
double lgms_model_flops(const lgms_model *m, int h, int w);
double lgms_model_flops3d(const lgms_model *m, int d, int h, int w);

lgms_state *lgms_state_new(const lgms_model *m);
void lgms_state_free(lgms_state *st);
/* Run each op of this state's inferences on n threads (the caller plus n - 1 helpers the
 * state owns; 1 = the caller only, the default). Results agree with 1 thread to rounding. Keep
 * OpenBLAS single-threaded (openblas_set_num_threads(1)) when n > 1, and states x n <= cores. */
lgms_status lgms_state_set_threads(lgms_state *st, int n);
int lgms_state_threads(const lgms_state *st);
/* fn(arg, i, n) on each of the state's n threads (i = 0 on the caller), returning when all
 * have finished: lends the inference threads to the caller's own work between inferences
 * (lgmsd encodes its reply PNGs on them). Not during an lgms_forward on the same state. */
void lgms_state_run(lgms_state *st, void (*fn)(void *arg, int index, int count), void *arg);
/* Bytes of scratch the state holds (grows once per new input size, then stays). */
size_t lgms_state_scratch_bytes(const lgms_state *st);

/* Raw network: input NCHW float32 (n x in_channels x h x w), output n x num_classes x h x w
 * logits. h and w must be positive multiples of 32. The network runs with denormals flushed
 * to zero on every thread (x86: FTZ and DAZ; the caller's mode is restored on return):
 * values under 1.2e-38 count as 0, which spares the CPU's slow path for them. */
lgms_status lgms_forward(lgms_state *st, const float *input, int n, int h, int w, float *output, char *err,
                         size_t errlen);
/* The same for a 3-D model: input n x in_channels x d x h x w, output n x num_classes x d x
 * h x w; d, h and w multiples of 32. (lgms_forward on a 3-D model is an error, and this on a
 * 2-D model.) */
lgms_status lgms_forward3d(lgms_state *st, const float *input, int n, int d, int h, int w, float *output, char *err,
                           size_t errlen);

/* Seconds on a monotonic clock: the one clock lgmsd times anything with. */
double lgms_now(void);

/* Per-op-class time accounting of the last forward (for benchmarks). */
typedef enum {
    LGMS_PROF_CONV3 = 0, /* dense k x k convolution */
    LGMS_PROF_CONV_GROUPED,
    LGMS_PROF_CONV1,
    LGMS_PROF_DEPTHWISE,
    LGMS_PROF_ATTENTION,
    LGMS_PROF_LINEAR, /* transformer linears */
    LGMS_PROF_ELEMENTWISE,
    LGMS_PROF_COUNT
} lgms_prof_class;
typedef struct {
    double seconds[LGMS_PROF_COUNT];
    double flops[LGMS_PROF_COUNT];
} lgms_profile;
void lgms_state_profile(const lgms_state *st, lgms_profile *out);
void lgms_state_set_profiling(lgms_state *st, int on);
const char *lgms_prof_class_name(lgms_prof_class c);

/* ---- pre- and post-processing (engine/preprocess.c, engine/postprocess.c) ---- */

/* Decoded 8-bit image: channels 1 (grey) or 3 (RGB), rows packed (stride = width*channels). */
typedef struct {
    const uint8_t *pixels;
    int width, height, channels;
} lgms_image_u8;

/* Resize an 8-bit image with OpenCV cv2.resize semantics (half-pixel centres). */
lgms_status lgms_resize_u8(const lgms_image_u8 *src, uint8_t *dst, int dst_w, int dst_h, lgms_resize_filter filter);

/* From decoded pixels to the normalised 1 x in_channels x H x W tensor the model expects
 * (channel order, resize, mean/std, extra scale, as the metadata says). scratch must hold
 * input_width*input_height*3 bytes. */
lgms_status lgms_preprocess(const lgms_meta *meta, const lgms_image_u8 *img, uint8_t *scratch, float *tensor);
/* Tensor rows [y0, y1) of the input_height rows (every channel) and the resized rows of
 * scratch they come from: bands of rows on different threads make lgms_preprocess's
 * tensor, bit for bit. */
lgms_status lgms_preprocess_rows(const lgms_meta *meta, const lgms_image_u8 *img, int y0, int y1, uint8_t *scratch,
                                 float *tensor);

/* From logits (num_classes x lh x lw) to a label map at out_w x out_h: bilinear resize of
 * the logits (half-pixel centres), then threshold (one class: label 1 where
 * sigmoid > threshold) or argmax (several classes: label = class index). If prob is not
 * NULL it receives the foreground probability x 255, rounded (one class: sigmoid; several:
 * 1 - softmax of class 0). */
lgms_status lgms_postprocess(const lgms_meta *meta, const float *logits, int lw, int lh, float threshold,
                             uint8_t *labels, uint8_t *prob, int out_w, int out_h);
/* Rows [y0, y1) of those labels (and probabilities): bands of rows on different threads
 * make lgms_postprocess's, bit for bit. */
lgms_status lgms_postprocess_rows(const lgms_meta *meta, const float *logits, int lw, int lh, float threshold,
                                  uint8_t *labels, uint8_t *prob, int out_w, int out_h, int y0, int y1);

/* Labels of n voxels from k logit planes (class c of voxel i at logits[c * n + i]), by the
 * same rule: k = 1 thresholds the sigmoid, k > 1 takes the largest logit. */
lgms_status lgms_argmax_planes(const float *logits, int k, size_t n, float threshold, uint8_t *labels);

/* Labels a model's maps hold: background plus its classes (a one-output head has two). */
int lgms_label_count(const lgms_meta *meta);

#endif
