/* segment_volume.h - one CT volume segmented start to finish: NIfTI in, resampled to the model's
 * spacing, CT window, sliding-window inference with the 3-D network, argmax, labels back
 * on the input grid, NIfTI out, per-class volumes and an axial overlay montage. Runs on a
 * worker (or the CLI); progress is reported after every patch and may cancel the job. */
#ifndef LGMS_API_SEGMENT_VOLUME_H
#define LGMS_API_SEGMENT_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lgms.h"
#include "nifti.h"
#include "orient.h"
#include "status.h"

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

/* Read the header only and check it against the limits: API_OK, or API_TOO_LARGE naming
 * the limit (max_voxels, max_grid_voxels, max_patches) or API_UNPROCESSABLE (not a volume
 * this model can run), with e set. api_segment_volume runs the same check first; the daemon
 * also calls it before it accepts a job, so a refusal reaches the client at once. */
api_status api_volume_check(const lgms_meta *mt, const uint8_t *bytes, size_t len, const api_volume_limits *lim,
                            api_volume_plan *plan, api_error *e);

/* A volume read, turned and resampled for the network: what the sliding window runs on. */
typedef struct {
    api_volume v; /* as read: its header and the data on the stored grid */
    api_volume_plan plan;
    api_orient orient; /* stored order -> the network's (identity unless plan.turn) */
    int n[3];          /* dims in the network's order, x y z */
    float *grid;       /* plan.grid voxels at the model's spacing, CT window applied ([0, 1]) */
} api_volume_input;

/* Everything before the first patch: api_volume_check's checks, the read, the turn to RAS+,
 * the resampling and the window. API_OK, or as api_segment_volume. */
api_status api_volume_prepare(const lgms_meta *mt, const uint8_t *bytes, size_t len, const api_volume_limits *lim,
                              api_volume_input *in, api_error *e);
void api_volume_input_free(api_volume_input *in);

/* After each patch: (done, total). Return nonzero to cancel. May be NULL. */
typedef int (*api_volume_progress)(void *arg, int done, int total);

/* API_OK, or with e set: api_volume_check's refusals, API_UNPROCESSABLE (not a readable
 * volume), API_CANCELLED (progress asked to stop), API_INTERNAL (out of memory, an engine
 * failure, a label volume that could not be written whole). The model must be 3-D. */
api_status api_segment_volume(lgms_state *st, const lgms_model *m, const uint8_t *bytes, size_t len,
                              const api_volume_limits *lim, api_volume_progress progress, void *progress_arg,
                              api_volume_result *out, api_error *e);
void api_volume_result_free(api_volume_result *r);

#endif
