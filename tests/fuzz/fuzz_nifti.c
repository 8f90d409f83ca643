/* fuzz_nifti.c - libFuzzer target: NIfTI-1/2 volumes (.nii or .nii.gz bytes) through the
 * whole volume pipeline up to the first patch, for a 3-D model that turns volumes to RAS+
 * (the 3-D test fixture's metadata): the header probe and its limits, the plan (resampled
 * grid, patches), libnifti2's read cross-checked against the probe, the turn, resampling
 * and the window; then a label volume written back as the pipeline's end does. Limits are
 * small so that each input stays cheap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/nifti.h"
#include "../../api/segment_volume.h"

static lgms_meta meta;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    lgms_model *m;
    char err[256];
    if (lgms_model_load("tests/fixtures/small3d-14class.lgms", &m, err, sizeof err)) {
        fprintf(stderr, "fuzz_nifti: %s (run from the top of the tree)\n", err);
        exit(1);
    }
    meta = *lgms_model_meta(m);
    meta.orient_ras = 1; /* exercise the turn as well */
    lgms_model_free(m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_volume_limits lim = {1u << 16, 1u << 18, 64};
    api_volume_input in;
    api_error e;
    if (api_volume_prepare(&meta, data, size, &lim, &in, &e)) return 0;
    /* touch the grid: a wrong size shows under ASan */
    float sum = 0;
    for (uint64_t i = 0; i < in.plan.grid_voxels; i++)
        sum += in.grid[i];
    (void)sum;
    size_t n = (size_t)in.v.nx * in.v.ny * in.v.nz;
    uint8_t *labels = calloc(n ? n : 1, 1);
    uint8_t *out;
    size_t out_len;
    if (labels && !api_nifti_write_labels(&in.v, labels, &out, &out_len, &e)) free(out);
    free(labels);
    api_volume_input_free(&in);
    return 0;
}
