/* orient.h - a volume turned to RAS+ voxel order and its labels turned back.
 *
 * CT networks trained with MONAI-style pipelines (Orientationd(axcodes="RAS")) see every
 * volume with i running to the patient's Right, j to Anterior and k to Superior, whatever
 * order the scanner stored. A model file saying `orientation RAS` gets the same: the voxel
 * axes are permuted and flipped (no interpolation) before resampling, and the labels are
 * put back in the stored order, so the label volume still shares the input's header. */
#ifndef LGMS_API_ORIENT_H
#define LGMS_API_ORIENT_H

#include <stdint.h>

/* For RAS axis a (0: R, 1: A, 2: S): the stored axis it comes from and whether it runs
 * the other way. */
typedef struct {
    int src[3], flip[3];
} api_orient;

/* Plan from the stored axes' directions (NIfTI orientation codes, NIFTI_L2R .. NIFTI_S2I,
 * for i, j, k). -1 when they do not name three different anatomical axes. */
int api_orient_plan(const int codes[3], api_orient *o);
int api_orient_is_identity(const api_orient *o);
/* dims (nx, ny, nz) of the RAS volume. */
void api_orient_dims(const api_orient *o, const int stored[3], int ras[3]);
/* Stored (dims stored) -> RAS order, and labels in RAS order -> stored order. */
void api_orient_to_ras(const api_orient *o, const float *src, const int stored[3], float *dst);
void api_orient_labels_back(const api_orient *o, const uint8_t *ras, const int stored[3], uint8_t *dst);

#endif
