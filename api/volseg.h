/* volseg.h - one CT volume segmented start to finish: NIfTI in, resampled to the model's
 * spacing, CT window, sliding-window inference with the 3-D network, argmax, labels back
 * on the input grid, NIfTI out, per-class volumes and an axial overlay montage. Runs on a
 * worker (or the CLI); progress is reported after every patch and may cancel the job. */
#ifndef LGMS_API_VOLSEG_H
#define LGMS_API_VOLSEG_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lgms.h"

typedef struct {
    int nx, ny, nz;                        /* the input grid */
    double spacing[3];                     /* mm */
    int model_grid[3];                     /* x, y, z voxels the network saw after resampling */
    char axes[4];                          /* where i, j, k point, e.g. "LPS"; "" when unknown */
    char model_axes[4];                    /* the same for the network's grid: "RAS" when turned */
    int patches;                           /* sliding-window patches run */
    int n_labels;                          /* background + classes */
    uint64_t voxels[LGMS_MAX_CLASSES + 1]; /* per label, on the input grid */
    double ml[LGMS_MAX_CLASSES + 1];       /* voxels x voxel volume */
    uint8_t *nifti;                        /* the label volume, NIfTI-1 .nii.gz */
    size_t nifti_len;
    uint8_t *montage; /* PNG: four axial slices with the most foreground, 2 x 2 */
    size_t montage_len;
    double seconds;
} api_volume_result;

/* What one volume may cost, checked from its header before any work starts. */
typedef struct {
    uint64_t max_voxels;      /* voxels of the input */
    uint64_t max_grid_voxels; /* voxels after resampling to the model's spacing */
    int max_patches;          /* sliding-window patches over that grid */
} api_volume_limits;

/* How a volume will be run: from its header and the model alone. */
typedef struct {
    int stored[3];  /* input dims along i, j, k */
    int axes_known; /* the header says where the axes point */
    int turn;       /* turned to RAS+ first */
    int grid[3];    /* the network's grid, x y z (after the turn and resampling) */
    uint64_t grid_voxels;
    int patches;
    uint64_t bytes; /* working memory the run needs, roughly */
} api_volume_plan;

/* Read the header only and check it against the limits: 0, or 413 naming the limit
 * (max_voxels, max_grid_voxels, max_patches) or 422 (not a volume this model can run),
 * with err set. api_volume_segment runs the same check first; the daemon also calls it
 * before it accepts a job, so a refusal reaches the client at once. */
int api_volume_check(const lgms_meta *mt, const uint8_t *bytes, size_t len, const api_volume_limits *lim,
                     api_volume_plan *plan, char *err, size_t errlen);

/* After each patch: (done, total). Return nonzero to cancel. May be NULL. */
typedef int (*api_volume_progress)(void *arg, int done, int total);

/* 0, or an HTTP status with err set: api_volume_check's 413 and 422, 422 (not a readable
 * volume), 499 (cancelled), 500 (out of memory or an engine failure). The model must be 3-D. */
int api_volume_segment(lgms_state *st, const lgms_model *m, const uint8_t *bytes, size_t len,
                       const api_volume_limits *lim, api_volume_progress progress, void *progress_arg,
                       api_volume_result *out, char *err, size_t errlen);
void api_volume_result_free(api_volume_result *r);

#endif
