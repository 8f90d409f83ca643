/* nifti.c - NIfTI volumes through libnifti2, via short-lived files in /dev/shm. */
#include "nifti.h"

#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

/* A new empty file /dev/shm/lgmsd-XXXXXX<suffix>; its path in path. -1 with err set. */
static int shm_file(const char *suffix, char *path, size_t cap, char *err, size_t errlen) {
    snprintf(path, cap, SHM_DIR "/lgmsd-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) snprintf(err, errlen, "cannot create a file in " SHM_DIR " for libnifti2: %s", strerror(errno));
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Every voxel as float, with the header's scaling. 0, or -1 for an unsupported type. */
static int to_float(const nifti_image *nim, float *dst) {
    double slope = nim->scl_slope, inter = nim->scl_inter;
    if (slope == 0.0 || !isfinite(slope) || !isfinite(inter)) slope = 1.0, inter = 0.0;
    size_t n = (size_t)nim->nvox;
#define CONVERT(T)                                                                                                     \
    for (size_t i = 0; i < n; i++)                                                                                     \
        dst[i] = (float)(((const T *)nim->data)[i] * slope + inter);                                                   \
    return 0
    switch (nim->datatype) {
    case DT_UINT8: CONVERT(uint8_t);
    case DT_INT8: CONVERT(int8_t);
    case DT_INT16: CONVERT(int16_t);
    case DT_UINT16: CONVERT(uint16_t);
    case DT_INT32: CONVERT(int32_t);
    case DT_UINT32: CONVERT(uint32_t);
    case DT_FLOAT32: CONVERT(float);
    case DT_FLOAT64: CONVERT(double);
    default: return -1;
    }
#undef CONVERT
}

int api_nifti_read(const uint8_t *bytes, size_t len, size_t max_voxels, api_volume *v, char *err, size_t errlen) {
    memset(v, 0, sizeof *v);
    if (len < 4) {
        snprintf(err, errlen, "the body is too short to be a NIfTI file");
        return 422;
    }
    int gz = bytes[0] == 0x1f && bytes[1] == 0x8b;
    char path[64];
    int fd = shm_file(gz ? ".nii.gz" : ".nii", path, sizeof path, err, errlen);
    if (fd < 0) return 500;
    int werr = write_all(fd, bytes, len);
    close(fd);
    nifti_image *nim = NULL;
    int status = 0;
    if (werr) {
        snprintf(err, errlen, "cannot write the volume to " SHM_DIR ": %s", strerror(errno));
        status = 500;
        goto out;
    }
    nifti_set_debug_level(0);
    nim = nifti_image_read(path, 0); /* header only: check sizes before any data is read */
    if (!nim) {
        snprintf(err, errlen, "not a readable NIfTI-1/2 file (.nii or .nii.gz)");
        status = 422;
        goto out;
    }
    int64_t extra = 1;
    for (int d = 4; d <= 7; d++)
        extra *= nim->dim[d] > 0 ? nim->dim[d] : 1;
    if (nim->nx < 1 || nim->ny < 1 || nim->nz < 1 || extra != 1) {
        snprintf(err, errlen, "expected one 3-D volume, got dimensions %lldx%lldx%lld (x %lld more)",
                 (long long)nim->nx, (long long)nim->ny, (long long)nim->nz, (long long)extra);
        status = 422;
        goto out;
    }
    if ((uint64_t)nim->nvox > max_voxels) {
        snprintf(err, errlen, "volume of %lldx%lldx%lld voxels exceeds max_voxels = %zu", (long long)nim->nx,
                 (long long)nim->ny, (long long)nim->nz, max_voxels);
        status = 413;
        goto out;
    }
    if (nifti_image_load(nim)) {
        snprintf(err, errlen, "the NIfTI data is truncated or unreadable");
        status = 422;
        goto out;
    }
    v->data = malloc(sizeof(float) * (size_t)nim->nvox);
    if (!v->data) {
        snprintf(err, errlen, "out of memory for a %lld-voxel volume", (long long)nim->nvox);
        status = 500;
        goto out;
    }
    if (to_float(nim, v->data)) {
        snprintf(err, errlen, "NIfTI datatype %s is not supported (integers and floats are)",
                 nifti_datatype_string(nim->datatype));
        status = 422;
        goto out;
    }
    v->nx = (int)nim->nx, v->ny = (int)nim->ny, v->nz = (int)nim->nz;
    v->spacing[0] = fabs(nim->dx), v->spacing[1] = fabs(nim->dy), v->spacing[2] = fabs(nim->dz);
    if (nim->sform_code > 0)
        nifti_dmat44_to_orientation(nim->sto_xyz, &v->axis_codes[0], &v->axis_codes[1], &v->axis_codes[2]);
    else if (nim->qform_code > 0)
        nifti_dmat44_to_orientation(nim->qto_xyz, &v->axis_codes[0], &v->axis_codes[1], &v->axis_codes[2]);
    nifti_image_unload(nim); /* keep the header only */
    v->header = nim;
    nim = NULL;
out:
    unlink(path);
    if (nim) nifti_image_free(nim);
    if (status) api_volume_free(v);
    return status;
}

int api_nifti_write_labels(const api_volume *ref, const uint8_t *labels, uint8_t **out, size_t *out_len, char *err,
                           size_t errlen) {
    *out = NULL, *out_len = 0;
    nifti_image *nim = nifti_copy_nim_info(ref->header);
    if (!nim) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    nim->datatype = DT_UINT8;
    nim->nbyper = 1;
    nim->scl_slope = 1.0, nim->scl_inter = 0.0; /* labels are stored as they are */
    nim->cal_min = 0.0, nim->cal_max = 0.0;
    nim->data = (void *)labels;
    char path[64];
    int status = 0, fd = shm_file(".nii.gz", path, sizeof path, err, errlen);
    if (fd < 0) {
        nim->data = NULL;
        nifti_image_free(nim);
        return 500;
    }
    close(fd);
    if (nifti_set_filenames(nim, path, 0, 1)) {
        snprintf(err, errlen, "libnifti2 refused the output name");
        status = 500;
    } else {
        /* NIfTI-1 in one file, whatever the input's version: libnifti2 3.0.1 writes truncated
         * NIfTI-2 single files, and NIfTI-1 holds any CT grid (sides up to 32767) */
        nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
        nifti_set_iname_offset(nim, 1);
        nifti_image_write(nim);
        FILE *f = fopen(path, "rb");
        long n = -1;
        if (f && !fseek(f, 0, SEEK_END)) n = ftell(f);
        if (n > 0 && !fseek(f, 0, SEEK_SET) && (*out = malloc((size_t)n)) && fread(*out, 1, (size_t)n, f) == (size_t)n)
            *out_len = (size_t)n;
        else {
            free(*out);
            *out = NULL;
            snprintf(err, errlen, "libnifti2 could not write the label volume");
            status = 500;
        }
        if (f) fclose(f);
    }
    unlink(path);
    nim->data = NULL; /* the caller's */
    nifti_image_free(nim);
    return status;
}

void api_volume_free(api_volume *v) {
    free(v->data);
    if (v->header) nifti_image_free(v->header);
    memset(v, 0, sizeof *v);
}
