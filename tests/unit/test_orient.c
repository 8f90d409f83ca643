/* test_orient.c - turning stored volumes to RAS+ voxel order and labels back: plans from
 * NIfTI orientation codes, where voxels land, and the round trip. */
#include <criterion/criterion.h>
#include <nifti2_io.h>
#include <stdlib.h>

#include "../../api/orient.h"

Test(orient, plans_from_orientation_codes) {
    api_orient o;
    int ras[3] = {NIFTI_L2R, NIFTI_P2A, NIFTI_I2S};
    cr_assert_eq(api_orient_plan(ras, &o), 0);
    cr_assert(api_orient_is_identity(&o));
    int lps[3] = {NIFTI_R2L, NIFTI_A2P, NIFTI_I2S}; /* DICOM's patient axes */
    cr_assert_eq(api_orient_plan(lps, &o), 0);
    cr_assert_not(api_orient_is_identity(&o));
    cr_assert(o.flip[0] && o.flip[1] && !o.flip[2]);
    cr_assert(o.src[0] == 0 && o.src[1] == 1 && o.src[2] == 2);
    int sri[3] = {NIFTI_S2I, NIFTI_L2R, NIFTI_P2A}; /* i runs down, j right, k forward */
    cr_assert_eq(api_orient_plan(sri, &o), 0);
    cr_assert(o.src[0] == 1 && o.src[1] == 2 && o.src[2] == 0);
    cr_assert(!o.flip[0] && !o.flip[1] && o.flip[2]);
    int stored[3] = {4, 5, 6}, n[3];
    api_orient_dims(&o, stored, n);
    cr_assert(n[0] == 5 && n[1] == 6 && n[2] == 4);
    int twice[3] = {NIFTI_L2R, NIFTI_R2L, NIFTI_I2S}, none[3] = {0, 0, 0};
    cr_assert_eq(api_orient_plan(twice, &o), -1, "two axes along left-right");
    cr_assert_eq(api_orient_plan(none, &o), -1, "no orientation in the header");
}

/* voxel (x, y, z) of a stored nx x ny x nz volume, numbered i fastest */
static int at(const int d[3], int x, int y, int z) { return (z * d[1] + y) * d[0] + x; }

Test(orient, voxels_land_where_the_axes_say_and_labels_go_back) {
    int cases[2][3] = {{NIFTI_R2L, NIFTI_A2P, NIFTI_I2S}, {NIFTI_S2I, NIFTI_L2R, NIFTI_P2A}};
    int stored[3] = {3, 4, 5};
    int nvox = 3 * 4 * 5;
    float *vol = malloc(sizeof(float) * nvox), *ras = malloc(sizeof(float) * nvox);
    uint8_t *lab = malloc(nvox), *back = malloc(nvox);
    for (int i = 0; i < nvox; i++)
        vol[i] = (float)i;
    for (int c = 0; c < 2; c++) {
        api_orient o;
        cr_assert_eq(api_orient_plan(cases[c], &o), 0);
        int n[3];
        api_orient_dims(&o, stored, n);
        api_orient_to_ras(&o, vol, stored, ras);
        if (c == 0) { /* LPS: RAS voxel (0, 0, 0) is the stored one at the far end of i and j */
            cr_assert_float_eq(ras[0], (float)at(stored, 2, 3, 0), 0);
            cr_assert_float_eq(ras[at(n, 2, 3, 4)], (float)at(stored, 0, 0, 4), 0);
        } else { /* R comes from j, A from k, S from i reversed */
            cr_assert_float_eq(ras[at(n, 1, 2, 0)], (float)at(stored, 2, 1, 2), 0);
        }
        for (int i = 0; i < nvox; i++)
            lab[i] = (uint8_t)ras[i];
        api_orient_labels_back(&o, lab, stored, back);
        for (int i = 0; i < nvox; i++)
            cr_assert_eq(back[i], i, "case %d voxel %d", c, i);
    }
    free(vol), free(ras), free(lab), free(back);
}
