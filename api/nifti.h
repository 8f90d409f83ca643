/* nifti.h - NIfTI-1/2 volumes (.nii, .nii.gz) in and label volumes out, through Debian's
 * libnifti2. The input's header (dimensions, spacing, qform and sform) is kept so the
 * label volume written back lines up with the input in any viewer.
 *
 * libnifti2 reads and writes files only. Bytes pass through a file in /dev/shm (memory,
 * never disk), created 0600 and unlinked as soon as the library is done with it. */
#ifndef LGMS_API_NIFTI_H
#define LGMS_API_NIFTI_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int nx, ny, nz;    /* voxels along i, j, k (i fastest in data) */
    double spacing[3]; /* mm along i, j, k */
    float *data;       /* nx * ny * nz intensities, scl_slope/scl_inter applied */
    int axis_codes[3]; /* where i, j, k point (NIFTI_L2R .. NIFTI_S2I) by the sform, else the
                          qform; 0 when the header has neither */
    void *header;      /* the input's header (no data), for api_nifti_write_labels */
} api_volume;

/* Parse a NIfTI-1 or NIfTI-2 file (gzip or not) of one 3-D volume. Returns 0, or an HTTP
 * status with err set: 413 past max_voxels (checked from the header, before any data is
 * read), 422 for anything not a readable 3-D NIfTI volume, 500 when memory runs out. */
int api_nifti_read(const uint8_t *bytes, size_t len, size_t max_voxels, api_volume *v, char *err, size_t errlen);
/* A NIfTI-1 .nii.gz of labels (uint8, same grid, qform and sform as ref, also for a
 * NIfTI-2 input). *out is malloc'ed. */
int api_nifti_write_labels(const api_volume *ref, const uint8_t *labels, uint8_t **out, size_t *out_len, char *err,
                           size_t errlen);
void api_volume_free(api_volume *v);

#endif
