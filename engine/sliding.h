/* sliding.h - what 3-D segmentation does around the network: the CT intensity window,
 * sliding-window inference over a volume with overlapping patches (constant or Gaussian
 * blending), following MONAI's sliding_window_inference, which the official 3-D
 * evaluation uses. The network itself is a callback, so this runs (and is tested) apart
 * from any particular model. Volumes are C x D x H x W float32, W fastest. */
#ifndef LGMS_SLIDING_H
#define LGMS_SLIDING_H

#include <stddef.h>
#include <stdint.h>

/* In place: v = clamp((v - a_min) / (a_max - a_min), 0, 1) (ScaleIntensityRange, clip on). */
void lgms_intensity_window(float *v, size_t n, float a_min, float a_max);

/* The size an axis of n voxels of spacing s_in gets at spacing s_out: round(n s_in / s_out),
 * at least 1; -1 when that is not a number or does not fit an int (refuse the volume). */
int lgms_resampled_size(int n, double s_in, double s_out);
/* Resample a C x D x H x W volume to C x od x oh x ow, trilinear, voxel centres aligned
 * (source coordinate (o + 0.5) * n / on - 0.5, clamped to the edge voxels). */
void lgms_resample_linear(const float *in, int c, int d, int h, int w, float *out, int od, int oh, int ow);
/* The same for a label volume, nearest voxel (no new label values). */
void lgms_resample_nearest(const uint8_t *in, int d, int h, int w, uint8_t *out, int od, int oh, int ow);

/* Patch origins along an axis of `size` for patches of `roi` with `overlap` in [0, 1):
 * stride max(1, floor(roi * (1 - overlap))), the last patch flush with the end, one patch
 * at 0 when size <= roi. Returns the count (at most max; 0 if max is too small). */
int lgms_window_starts(int size, int roi, float overlap, int *starts, int max);

/* rd x rh x rw blending weights: all 1 (constant), or MONAI's Gaussian importance map: a
 * Gaussian per axis with sigma 0.125 x the patch side centred between the middle voxels,
 * their product floored at 1e-3. */
void lgms_blend_weights(int rd, int rh, int rw, int gaussian, float *w);

/* The network on one patch: in is C x rd x rh x rw, out K x rd x rh x rw. 0 or -1 (stops). */
typedef int (*lgms_patch_fn)(void *ctx, const float *in, float *out);
/* Called after each patch with (done, total); may be NULL. */
typedef void (*lgms_progress_fn)(void *ctx, int done, int total);

typedef struct {
    int channels, classes; /* C in, K out */
    int rd, rh, rw;        /* patch size */
    float overlap;         /* 0.5 upstream */
    int gaussian;          /* 0: constant blending (upstream default) */
    lgms_patch_fn run;
    lgms_progress_fn progress;
    void *ctx;
} lgms_sliding_window;

/* Number of patches for a D x H x W volume. */
int lgms_sliding_patches(const lgms_sliding_window *sw, int d, int h, int w);
/* Floats of scratch lgms_sliding_run needs. */
size_t lgms_sliding_scratch(const lgms_sliding_window *sw, int d, int h, int w);
/* out (K x D x H x W) = blended network outputs over every patch; parts of a patch outside
 * a volume smaller than the patch are fed as zeros. 0, or -1 when the callback stopped it. */
int lgms_sliding_run(const lgms_sliding_window *sw, const float *vol, int d, int h, int w, float *out, float *scratch);

#endif
