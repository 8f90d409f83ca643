/* fuzz_model.c - libFuzzer target: the .lgms model-file loader (container, metadata,
 * tensor table, architecture checks, BatchNorm folding). */
#include <stdint.h>

#include "../../engine/lgms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lgms_model *m;
    char err[512];
    if (lgms_model_load_mem(data, size, &m, err, sizeof err) == LGMS_OK) lgms_model_free(m);
    return 0;
}
