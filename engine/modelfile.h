/* modelfile.h - the .lgms model file: parse and validate the container (header,
 * metadata, tensor table). Knows nothing of the network; see docs/model-format.md. */
#ifndef LGMS_MODELFILE_H
#define LGMS_MODELFILE_H

#include "lgms.h"

#define LGMS_FILE_MAGIC "LGMSNET"
#define LGMS_FILE_VERSION 1
#define LGMS_FILE_HEADER_SIZE 64
#define LGMS_FILE_ENTRY_SIZE 128
#define LGMS_FILE_NAME_SIZE 88
#define LGMS_FILE_MAX_DIMS 6
#define LGMS_FILE_ALIGN 64

enum { LGMS_DTYPE_F32 = 0, LGMS_DTYPE_F16 = 1 };

typedef struct {
    char name[LGMS_FILE_NAME_SIZE];
    int dtype;
    int ndim;
    int shape[LGMS_FILE_MAX_DIMS];
    size_t numel;
    const void *data; /* inside the parsed buffer */
    int used;         /* set by the graph builder, to find extra tensors */
} lgms_file_tensor;

typedef struct {
    lgms_meta meta;
    int n_tensors;
    lgms_file_tensor *tensors;
    int *by_name; /* tensor indices sorted by name, for lookups */
} lgms_file;

/* Parse a whole file held in memory. The tensors point into buf, which must outlive f. */
lgms_status lgms_file_parse(const uint8_t *buf, size_t size, lgms_file *f, char *err, size_t errlen);
void lgms_file_release(lgms_file *f);
lgms_file_tensor *lgms_file_find(lgms_file *f, const char *name);
/* Copy a tensor's values as float32 (converting fp16). */
void lgms_file_tensor_f32(const lgms_file_tensor *t, float *dst);

#endif
