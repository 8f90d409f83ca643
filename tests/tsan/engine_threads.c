/* engine_threads.c - run under ThreadSanitizer (make test-tsan): whole forward passes on
 * thread teams of 2 and 3, so every op's split and the team's hand-off are checked for
 * data races. criterion's process arena does not start under TSan, hence a plain main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/lgms.h"

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/fixtures/official-1class.lgms";
    lgms_model *m;
    char err[256];
    if (lgms_model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "engine_threads: %s\n", err);
        return 1;
    }
    int h = 64, w = 96; /* widths on and off the direct kernel, key counts on and off the AVX2 attention */
    float *in = calloc((size_t)3 * h * w, sizeof(float)), *one = calloc((size_t)h * w, sizeof(float));
    float *out = calloc((size_t)h * w, sizeof(float));
    for (int i = 0; i < 3 * h * w; i++)
        in[i] = (float)(i % 17) / 17.0f - 0.5f;
    int rc = 0;
    for (int t = 1; t <= 3 && !rc; t++) {
        lgms_state *st = lgms_state_new(m);
        if (!st || lgms_state_set_threads(st, t)) rc = 1;
        for (int r = 0; r < 3 && !rc; r++)
            if (lgms_forward(st, in, 1, h, w, t == 1 ? one : out, err, sizeof err)) {
                fprintf(stderr, "engine_threads: %s\n", err);
                rc = 1;
            }
        for (int i = 0; t > 1 && !rc && i < h * w; i++)
            if (out[i] - one[i] > 1e-4f || one[i] - out[i] > 1e-4f) {
                fprintf(stderr, "engine_threads: %d threads differ from 1 at %d: %g vs %g\n", t, i, out[i], one[i]);
                rc = 1;
            }
        lgms_state_free(st);
    }
    free(in), free(one), free(out);
    lgms_model_free(m);
    if (!rc) printf("engine_threads: teams of 1-3 threads, no race reported, outputs agree\n");
    return rc;
}
