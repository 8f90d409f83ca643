/* orient.c - axis permutations and flips between a volume's stored order and RAS+. */
#include "orient.h"

#include <stddef.h>

int api_orient_plan(const int codes[3], api_orient *o) {
    int seen[3] = {0, 0, 0};
    for (int s = 0; s < 3; s++) {
        if (codes[s] < 1 || codes[s] > 6) return -1;
        int a = (codes[s] - 1) / 2; /* L2R/R2L: 0, P2A/A2P: 1, I2S/S2I: 2 */
        if (seen[a]++) return -1;
        o->src[a] = s;
        o->flip[a] = codes[s] % 2 == 0; /* R2L, A2P, S2I run against RAS */
    }
    return 0;
}

int api_orient_is_identity(const api_orient *o) {
    for (int a = 0; a < 3; a++)
        if (o->src[a] != a || o->flip[a]) return 0;
    return 1;
}

void api_orient_dims(const api_orient *o, const int stored[3], int ras[3]) {
    for (int a = 0; a < 3; a++)
        ras[a] = stored[o->src[a]];
}

/* Offsets into the stored volume: where RAS voxel (0, 0, 0) is, and the step along each
 * RAS axis. */
static void walk(const api_orient *o, const int stored[3], ptrdiff_t *start, ptrdiff_t step[3]) {
    ptrdiff_t stride[3] = {1, stored[0], (ptrdiff_t)stored[0] * stored[1]};
    *start = 0;
    for (int a = 0; a < 3; a++) {
        int s = o->src[a];
        step[a] = o->flip[a] ? -stride[s] : stride[s];
        if (o->flip[a]) *start += (ptrdiff_t)(stored[s] - 1) * stride[s];
    }
}

void api_orient_to_ras(const api_orient *o, const float *src, const int stored[3], float *dst) {
    int n[3];
    ptrdiff_t start, step[3];
    api_orient_dims(o, stored, n);
    walk(o, stored, &start, step);
    for (int z = 0; z < n[2]; z++)
        for (int y = 0; y < n[1]; y++) {
            const float *p = src + start + z * step[2] + y * step[1];
            for (int x = 0; x < n[0]; x++, p += step[0])
                *dst++ = *p;
        }
}

void api_orient_labels_back(const api_orient *o, const uint8_t *ras, const int stored[3], uint8_t *dst) {
    int n[3];
    ptrdiff_t start, step[3];
    api_orient_dims(o, stored, n);
    walk(o, stored, &start, step);
    for (int z = 0; z < n[2]; z++)
        for (int y = 0; y < n[1]; y++) {
            uint8_t *p = dst + start + z * step[2] + y * step[1];
            for (int x = 0; x < n[0]; x++, p += step[0])
                *p = *ras++;
        }
}
