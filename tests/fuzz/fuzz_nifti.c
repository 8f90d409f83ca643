/* fuzz_nifti.c - libFuzzer target: NIfTI-1/2 volumes (.nii or .nii.gz bytes) through
 * api_nifti_read and, when one parses, a label volume written back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/nifti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_volume v;
    char err[256];
    if (api_nifti_read(data, size, 1u << 16, &v, err, sizeof err)) return 0;
    size_t n = (size_t)v.nx * v.ny * v.nz;
    uint8_t *labels = calloc(n ? n : 1, 1);
    uint8_t *out;
    size_t out_len;
    if (labels && !api_nifti_write_labels(&v, labels, &out, &out_len, err, sizeof err)) free(out);
    free(labels);
    api_volume_free(&v);
    return 0;
}
