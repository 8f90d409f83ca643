/* nifti.c - NIfTI volumes through libnifti2, via short-lived files in /dev/shm. */
#include "nifti.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <nifti2_io.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define SHM_DIR "/dev/shm"

/* The first n bytes of the file the bytes hold (inflated when gzip). Returns how many
 * there are (less than n for a short file), or -1 when the gzip stream is broken. */
static long head_bytes(const uint8_t *bytes, size_t len, uint8_t *out, size_t n) {
    if (len < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) {
        size_t k = len < n ? len : n;
        memcpy(out, bytes, k);
        return (long)k;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return -1;
    z.next_in = (Bytef *)bytes;
    z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)n;
    int rc = Z_OK;
    while (z.avail_out && rc == Z_OK)
        rc = inflate(&z, Z_SYNC_FLUSH);
    long got = (long)(n - z.avail_out);
    inflateEnd(&z);
    return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR ? got : -1;
}

/* mm per unit of pixdim, from the space bits of xyzt_units (unknown: mm, as usual). */
static double space_unit_mm(int xyzt_units) {
    switch (XYZT_TO_SPACE(xyzt_units)) {
    case NIFTI_UNITS_METER: return 1000.0;
    case NIFTI_UNITS_MICRON: return 0.001;
    default: return 1.0;
    }
}

api_status api_nifti_probe(const uint8_t *bytes, size_t len, uint64_t max_voxels, api_nifti_info *info, api_error *e) {
    memset(info, 0, sizeof *info);
    uint8_t head[sizeof(nifti_2_header)];
    long got = head_bytes(bytes, len, head, sizeof head);
    if (got < 0) return api_fail(e, API_UNPROCESSABLE, "the gzip stream is corrupt");
    int ver = got >= (long)sizeof(nifti_1_header) ? nifti_header_version((const char *)head, (size_t)got) : -1;
    int64_t dim[8];
    double pixdim[8], quat[6], srow[3][4];
    int units, qform, sform;
/* the fields both versions share, in their own types */
#define TAKE(h)                                                                                                        \
    do {                                                                                                               \
        for (int i = 0; i < 8; i++)                                                                                    \
            dim[i] = h.dim[i], pixdim[i] = h.pixdim[i];                                                                \
        double q[6] = {h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y, h.qoffset_z};                  \
        memcpy(quat, q, sizeof q);                                                                                     \
        for (int c = 0; c < 4; c++)                                                                                    \
            srow[0][c] = h.srow_x[c], srow[1][c] = h.srow_y[c], srow[2][c] = h.srow_z[c];                              \
        units = h.xyzt_units, qform = h.qform_code, sform = h.sform_code;                                              \
    } while (0)
    if (ver == 1) {
        nifti_1_header h;
        memcpy(&h, head, sizeof h);
        if (h.sizeof_hdr != 348) swap_nifti_header(&h, 1);
        TAKE(h);
    } else if (ver == 2 && got >= (long)sizeof(nifti_2_header)) {
        nifti_2_header h;
        memcpy(&h, head, sizeof h);
        if (h.sizeof_hdr != 540) swap_nifti_header(&h, 2);
        TAKE(h);
    } else {
        return api_fail(e, API_UNPROCESSABLE, "not a NIfTI-1/2 file (.nii or .nii.gz): no valid header");
    }
    if (dim[0] < 3 || dim[0] > 7)
        return api_fail(e, API_UNPROCESSABLE, "expected one 3-D volume, the header says %lld dimensions",
                        (long long)dim[0]);
    uint64_t voxels = 1;
    int overflow = 0;
    for (int d = 1; d <= dim[0]; d++) {
        if (dim[d] < 1 || dim[d] > INT_MAX || (d > 3 && dim[d] != 1))
            return api_fail(e, API_UNPROCESSABLE,
                            d > 3 ? "expected one 3-D volume, dimension %d has %lld entries"
                                  : "dimension %d has %lld voxels (1 to 2147483647 allowed)",
                            d, (long long)dim[d]);
        overflow |= __builtin_mul_overflow(voxels, (uint64_t)dim[d], &voxels);
    }
    if (overflow || voxels > max_voxels)
        return api_fail_limit(e, "max_voxels", "volume of %lldx%lldx%lld voxels exceeds max_voxels = %llu",
                              (long long)dim[1], (long long)dim[2], (long long)dim[3], (unsigned long long)max_voxels);
    double unit = space_unit_mm(units);
    for (int a = 0; a < 3; a++) {
        double sp = pixdim[a + 1] * unit;
        if (!isfinite(sp) || sp < API_NIFTI_MIN_SPACING || sp > API_NIFTI_MAX_SPACING)
            return api_fail(e, API_UNPROCESSABLE, "voxel spacing %g mm along axis %d is outside %g to %g mm", sp, a + 1,
                            API_NIFTI_MIN_SPACING, API_NIFTI_MAX_SPACING);
        info->spacing[a] = sp;
    }
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    if (sform > 0) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                m.m[r][c] = srow[r][c];
        m.m[3][3] = 1.0;
    } else if (qform > 0) {
        m = nifti_quatern_to_dmat44(quat[0], quat[1], quat[2], quat[3], quat[4], quat[5], pixdim[1], pixdim[2],
                                    pixdim[3], pixdim[0] < 0 ? -1.0 : 1.0);
    }
    if (sform > 0 || qform > 0)
        nifti_dmat44_to_orientation(m, &info->axis_codes[0], &info->axis_codes[1], &info->axis_codes[2]);
#undef TAKE
    info->version = ver;
    info->nx = (int)dim[1], info->ny = (int)dim[2], info->nz = (int)dim[3];
    info->voxels = voxels;
    return API_OK;
}

/* A new empty file /dev/shm/lgmsd-<pid>-XXXXXX<suffix> (the pid lets a later start tell a
 * dead process's leftovers apart: api_nifti_sweep); its path in path. -1 with e set. */
static int shm_file(const char *suffix, char *path, size_t cap, api_error *e) {
    snprintf(path, cap, SHM_DIR "/lgmsd-%ld-XXXXXX%s", (long)getpid(), suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) api_fail(e, API_INTERNAL, "cannot create a file in " SHM_DIR " for libnifti2: %s", strerror(errno));
    return fd;
}

int api_nifti_sweep(void) {
    DIR *d = opendir(SHM_DIR);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        long pid;
        char path[sizeof SHM_DIR + 256];
        if (sscanf(de->d_name, "lgmsd-%ld-", &pid) != 1 || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        snprintf(path, sizeof path, SHM_DIR "/%s", de->d_name);
        n += unlink(path) == 0;
    }
    closedir(d);
    return n;
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

api_status api_nifti_read(const uint8_t *bytes, size_t len, uint64_t max_voxels, api_volume *v, api_error *e) {
    memset(v, 0, sizeof *v);
    api_nifti_info info;
    api_status st = api_nifti_probe(bytes, len, max_voxels, &info, e);
    if (st) return st;
    int gz = bytes[0] == 0x1f && bytes[1] == 0x8b;
    char path[96];
    int fd = shm_file(gz ? ".nii.gz" : ".nii", path, sizeof path, e);
    if (fd < 0) return API_INTERNAL;
    int werr = write_all(fd, bytes, len);
    close(fd);
    nifti_image *nim = NULL;
    if (werr) {
        st = api_fail(e, API_INTERNAL, "cannot write the volume to " SHM_DIR ": %s", strerror(errno));
        goto out;
    }
    nifti_set_debug_level(0);
    nim = nifti_image_read(path, 0); /* header only: check sizes before any data is read */
    if (!nim) {
        st = api_fail(e, API_UNPROCESSABLE, "not a readable NIfTI-1/2 file (.nii or .nii.gz)");
        goto out;
    }
    /* the library must read the same volume the probe checked */
    if (nim->nx != info.nx || nim->ny != info.ny || nim->nz != info.nz || nim->nvox < 0 ||
        (uint64_t)nim->nvox != info.voxels) {
        st = api_fail(e, API_UNPROCESSABLE, "the NIfTI header is inconsistent (dimensions %lldx%lldx%lld, %lld voxels)",
                      (long long)nim->nx, (long long)nim->ny, (long long)nim->nz, (long long)nim->nvox);
        goto out;
    }
    if (nifti_image_load(nim)) {
        st = api_fail(e, API_UNPROCESSABLE, "the NIfTI data is truncated or unreadable");
        goto out;
    }
    v->data = malloc(sizeof(float) * (size_t)nim->nvox);
    if (!v->data) {
        st = api_fail(e, API_INTERNAL, "out of memory for a %lld-voxel volume", (long long)nim->nvox);
        goto out;
    }
    if (to_float(nim, v->data)) {
        st = api_fail(e, API_UNPROCESSABLE, "NIfTI datatype %s is not supported (integers and floats are)",
                      nifti_datatype_string(nim->datatype));
        goto out;
    }
    v->nx = info.nx, v->ny = info.ny, v->nz = info.nz;
    memcpy(v->spacing, info.spacing, sizeof v->spacing);
    memcpy(v->axis_codes, info.axis_codes, sizeof v->axis_codes);
    nifti_image_unload(nim); /* keep the header only */
    v->header = nim;
    nim = NULL;
out:
    unlink(path);
    if (nim) nifti_image_free(nim);
    if (st) api_volume_free(v);
    return st;
}

/* Bytes the gzip stream inflates to, or -1 when it is broken or cut short. */
static long long inflated_size(const uint8_t *gz, size_t len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return -1;
    z.next_in = (Bytef *)gz;
    z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
    uint8_t sink[65536];
    long long total = 0;
    int rc;
    do {
        z.next_out = sink;
        z.avail_out = sizeof sink;
        rc = inflate(&z, Z_NO_FLUSH);
        total += (long long)(sizeof sink - z.avail_out);
    } while (rc == Z_OK);
    inflateEnd(&z);
    return rc == Z_STREAM_END && z.avail_in == 0 ? total : -1;
}

/* The whole file at path into a malloc'ed buffer. 0, or -1. */
static int slurp(const char *path, uint8_t **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    long n = -1;
    *out = NULL;
    if (f && !fseek(f, 0, SEEK_END)) n = ftell(f);
    if (n > 0 && !fseek(f, 0, SEEK_SET) && (*out = malloc((size_t)n)) && fread(*out, 1, (size_t)n, f) == (size_t)n) {
        *out_len = (size_t)n;
        fclose(f);
        return 0;
    }
    free(*out);
    *out = NULL;
    if (f) fclose(f);
    return -1;
}

api_status api_nifti_write_labels(const api_volume *ref, const uint8_t *labels, uint8_t **out, size_t *out_len,
                                  api_error *e) {
    *out = NULL, *out_len = 0;
    nifti_image *nim = nifti_copy_nim_info(ref->header);
    if (!nim) return api_fail(e, API_INTERNAL, "out of memory");
    nim->datatype = DT_UINT8;
    nim->nbyper = 1;
    nim->scl_slope = 1.0, nim->scl_inter = 0.0; /* labels are stored as they are */
    nim->cal_min = 0.0, nim->cal_max = 0.0;
    nim->data = (void *)labels;
    char path[96];
    api_status st = API_OK;
    int fd = shm_file(".nii.gz", path, sizeof path, e);
    if (fd < 0) {
        nim->data = NULL;
        nifti_image_free(nim);
        return API_INTERNAL;
    }
    close(fd);
    if (nifti_set_filenames(nim, path, 0, 1)) {
        st = api_fail(e, API_INTERNAL, "libnifti2 refused the output name");
    } else {
        /* NIfTI-1 in one file, whatever the input's version: libnifti2 3.0.1 writes truncated
         * NIfTI-2 single files, and NIfTI-1 holds any CT grid (sides up to 32767) */
        nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
        nifti_set_iname_offset(nim, 1);
        nifti_image_write(nim); /* reports nothing: what it wrote is checked below */
        long long want = (long long)nim->iname_offset + (long long)nim->nvox;
        if (slurp(path, out, out_len) || inflated_size(*out, *out_len) != want) {
            free(*out);
            *out = NULL, *out_len = 0;
            st = api_fail(e, API_INTERNAL,
                          "the label volume could not be written whole to " SHM_DIR " (is it full? containers often "
                          "give it 64 MiB)");
        }
    }
    unlink(path);
    nim->data = NULL; /* the caller's */
    nifti_image_free(nim);
    return st;
}

void api_volume_free(api_volume *v) {
    free(v->data);
    if (v->header) nifti_image_free(v->header);
    memset(v, 0, sizeof *v);
}
