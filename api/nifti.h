/* nifti.h - NIfTI-1/2 volumes (.nii, .nii.gz) in and label volumes out, through Debian's
 * libnifti2. The input's header (dimensions, spacing, qform and sform) is kept so the
 * label volume written back lines up with the input in any viewer.
 *
 * libnifti2 reads and writes files only. Bytes pass through a file in /dev/shm (memory,
 * never disk), created 0600 and unlinked as soon as the library is done with it; what
 * libnifti2 writes is read back and checked, since it reports no short write. */
#ifndef LGMS_API_NIFTI_H
#define LGMS_API_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* What a NIfTI header says about the volume, read without touching the data. */
typedef struct {
    int version;       /* 1 or 2 */
    int nx, ny, nz;    /* voxels along i, j, k */
    uint64_t voxels;   /* nx * ny * nz */
    double spacing[3]; /* mm along i, j, k (pixdim in the header's space unit) */
    int axis_codes[3]; /* where i, j, k point (NIFTI_L2R .. NIFTI_S2I) by the sform, else the
                          qform; 0 when the header has neither */
} api_nifti_info;

/* Smallest and largest voxel side accepted, in mm. */
#define API_NIFTI_MIN_SPACING 1e-3
#define API_NIFTI_MAX_SPACING 1e3

/* Read and check the header of a NIfTI-1/2 file (gzip or not) from its first bytes only:
 * one 3-D volume, every side 1..INT_MAX, their product (computed with overflow checks)
 * at most max_voxels, each spacing finite and within [API_NIFTI_MIN_SPACING,
 * API_NIFTI_MAX_SPACING] mm. Cheap (inflates at most one header), so the daemon runs it
 * before it accepts a job. API_OK, or with e set: API_TOO_LARGE past max_voxels,
 * API_UNPROCESSABLE for anything else. */
api_status api_nifti_probe(const uint8_t *bytes, size_t len, uint64_t max_voxels, api_nifti_info *info, api_error *e);

typedef struct {
    int nx, ny, nz;    /* voxels along i, j, k (i fastest in data) */
    double spacing[3]; /* mm along i, j, k */
    float *data;       /* nx * ny * nz intensities, scl_slope/scl_inter applied */
    int axis_codes[3]; /* as api_nifti_info's */
    void *header;      /* the input's header (no data), for api_nifti_write_labels */
} api_volume;

/* Parse a NIfTI-1 or NIfTI-2 file (gzip or not) of one 3-D volume. API_OK, or with e
 * set: api_nifti_probe's refusals first (before any data is read), API_UNPROCESSABLE for
 * anything not a readable 3-D NIfTI volume or a library reading that disagrees with the
 * probe, API_INTERNAL when memory or /dev/shm runs out. */
api_status api_nifti_read(const uint8_t *bytes, size_t len, uint64_t max_voxels, api_volume *v, api_error *e);
/* A NIfTI-1 .nii.gz of labels (uint8, same grid, qform and sform as ref, also for a
 * NIfTI-2 input). *out is malloc'ed; it is read back and checked to hold the whole
 * volume, so a short write (a full /dev/shm) is an error, never a truncated result. */
api_status api_nifti_write_labels(const api_volume *ref, const uint8_t *labels, uint8_t **out, size_t *out_len,
                                  api_error *e);
void api_volume_free(api_volume *v);
/* Remove files a killed process left in /dev/shm (named with its pid; the process is gone).
 * Returns how many. The daemon calls it at start. */
int api_nifti_sweep(void);

#endif
