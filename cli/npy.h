/* npy.h - read and write float32 C-order NumPy .npy files (for `lgmsd tensor`). */
#ifndef LGMSD_CLI_NPY_H
#define LGMSD_CLI_NPY_H

#include <stddef.h>

#define NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    size_t shape[NPY_MAX_DIMS];
    size_t numel;
    float *data;
} npy_array;

/* Returns 0, or -1 with a message in err. The array's data is malloc'ed. */
int npy_read(const char *path, npy_array *out, char *err, size_t errlen);
int npy_write(const char *path, const npy_array *a, char *err, size_t errlen);
void npy_free(npy_array *a);

#endif
