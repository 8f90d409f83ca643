/* test_nifti.c - NIfTI volumes in and label volumes out: data and scaling, spacing, qform
 * and sform kept, gzip or not, NIfTI-2, and clear errors for what is not one volume. */
#include <criterion/criterion.h>
#include <math.h>
#include <nifti2_io.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../api/nifti.h"
#include "../../api/segment_volume.h"

/* The test volume as a NIfTI-2 .nii written field by field (libnifti2 3.0.1 cannot write one). */
static uint8_t *make_nifti2(size_t *len) {
    nifti_2_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 540;
    memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    h.datatype = DT_INT16, h.bitpix = 16;
    int64_t dim[8] = {3, 5, 4, 3, 1, 1, 1, 1};
    double pixdim[8] = {1, 0.8, 0.9, 2.5, 1, 1, 1, 1};
    memcpy(h.dim, dim, sizeof dim);
    memcpy(h.pixdim, pixdim, sizeof pixdim);
    h.vox_offset = 544;
    h.scl_slope = 2.0, h.scl_inter = -1.0;
    h.qform_code = 1, h.quatern_d = 1.0, h.qoffset_x = 10, h.qoffset_y = -20, h.qoffset_z = 30;
    h.sform_code = 2;
    h.srow_x[1] = 0.8, h.srow_x[3] = 5, h.srow_y[0] = -0.9, h.srow_y[3] = 6, h.srow_z[2] = 2.5, h.srow_z[3] = 7;
    *len = 544 + 60 * 2;
    uint8_t *buf = calloc(1, *len);
    memcpy(buf, &h, sizeof h);
    for (int i = 0; i < 60; i++) {
        int16_t v = (int16_t)(i * 7 - 100);
        memcpy(buf + 544 + 2 * i, &v, 2);
    }
    return buf;
}

/* A 5x4x3 int16 volume with scaling, spacing, and distinct qform and sform, as file bytes. */
static uint8_t *make_file(const char *suffix, int nifti2, int nt, size_t *len) {
    if (nifti2) return make_nifti2(len);
    int64_t dims[8] = {nt > 1 ? 4 : 3, 5, 4, 3, nt, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, DT_INT16, 1);
    cr_assert_not_null(nim);
    for (int i = 0; i < 5 * 4 * 3 * nt; i++)
        ((int16_t *)nim->data)[i] = (int16_t)(i * 7 - 100);
    nim->scl_slope = 2.0, nim->scl_inter = -1.0;
    nim->dx = nim->pixdim[1] = 0.8, nim->dy = nim->pixdim[2] = 0.9, nim->dz = nim->pixdim[3] = 2.5;
    nim->qform_code = 1;
    nim->quatern_b = 0.0, nim->quatern_c = 0.0, nim->quatern_d = 1.0; /* 180 degrees about z */
    nim->qoffset_x = 10, nim->qoffset_y = -20, nim->qoffset_z = 30, nim->qfac = 1;
    nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 1, 10, -20, 30, 0.8, 0.9, 2.5, 1);
    nim->sform_code = 2;
    memset(&nim->sto_xyz, 0, sizeof nim->sto_xyz);
    nim->sto_xyz.m[0][1] = 0.8, nim->sto_xyz.m[1][0] = -0.9, nim->sto_xyz.m[2][2] = 2.5;
    nim->sto_xyz.m[0][3] = 5, nim->sto_xyz.m[1][3] = 6, nim->sto_xyz.m[2][3] = 7, nim->sto_xyz.m[3][3] = 1;
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/lgmsd-test-XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(nifti_set_filenames(nim, path, 0, 1), 0);
    nifti_image_write(nim);
    nifti_image_free(nim);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*len);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    unlink(path);
    return buf;
}

static void check_read(const char *suffix, int nifti2) {
    size_t len;
    uint8_t *bytes = make_file(suffix, nifti2, 1, &len);
    api_volume v;
    api_error e;
    cr_assert_eq(api_nifti_read(bytes, len, 1000, &v, &e), 0, "%s: %s", suffix, e.detail);
    cr_assert_eq(v.nx, 5);
    cr_assert_eq(v.ny, 4);
    cr_assert_eq(v.nz, 3);
    cr_assert_float_eq(v.spacing[0], 0.8, 1e-6);
    cr_assert_float_eq(v.spacing[2], 2.5, 1e-6);
    for (int i = 0; i < 60; i++)
        cr_assert_float_eq(v.data[i], (i * 7 - 100) * 2.0f - 1.0f, 1e-4, "voxel %d", i);
    const nifti_image *hdr = v.header;
    /* (libnifti2 reports nifti_type 1 for this NIfTI-2 file too; the 544-byte offset read above shows it parsed it) */
    cr_assert_float_eq(hdr->sto_xyz.m[0][1], 0.8, 1e-6, "sform read");
    cr_assert_float_eq(hdr->sto_xyz.m[1][0], -0.9, 1e-6);
    cr_assert_float_eq(hdr->sto_xyz.m[2][3], 7.0, 1e-6);
    cr_assert_float_eq(hdr->qto_xyz.m[0][3], 10.0, 1e-6, "qform read");
    cr_assert_float_eq(hdr->qto_xyz.m[0][0], -0.8, 1e-6, "180 degrees about z flips x");
    /* the sform (preferred to the qform): i runs to -y, j to +x, k to +z */
    cr_assert_eq(v.axis_codes[0], NIFTI_A2P);
    cr_assert_eq(v.axis_codes[1], NIFTI_L2R);
    cr_assert_eq(v.axis_codes[2], NIFTI_I2S);

    /* labels out: same grid and transforms, uint8, gzip */
    uint8_t labels[60];
    for (int i = 0; i < 60; i++)
        labels[i] = (uint8_t)(i % 14);
    uint8_t *out;
    size_t out_len;
    cr_assert_eq(api_nifti_write_labels(&v, labels, &out, &out_len, &e), API_OK, "%s", e.detail);
    cr_assert(out_len > 4 && out[0] == 0x1f && out[1] == 0x8b, "a .nii.gz");
    char path[64] = "/dev/shm/lgmsd-test-XXXXXX.nii.gz";
    int fd = mkstemps(path, 7);
    cr_assert_eq(write(fd, out, out_len), (ssize_t)out_len);
    close(fd);
    nifti_image *back = nifti_image_read(path, 1);
    unlink(path);
    cr_assert_not_null(back);
    cr_assert_eq(back->datatype, DT_UINT8);
    cr_assert_eq(back->nx * 100 + back->ny * 10 + back->nz, 543);
    cr_assert_eq(memcmp(back->data, labels, 60), 0);
    cr_assert_eq(back->sform_code, 2);
    cr_assert_eq(back->qform_code, 1);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            cr_assert_float_eq(back->sto_xyz.m[r][c], ((nifti_image *)v.header)->sto_xyz.m[r][c], 1e-5, "sform");
            cr_assert_float_eq(back->qto_xyz.m[r][c], ((nifti_image *)v.header)->qto_xyz.m[r][c], 1e-5, "qform");
        }
    cr_assert_eq(back->nifti_type, NIFTI_FTYPE_NIFTI1_1, "%s: labels come back as NIfTI-1", suffix);
    nifti_image_free(back);
    free(out);
    api_volume_free(&v);
    free(bytes);
}

Test(nifti, nii_and_nii_gz_and_nifti2_round_trip) {
    check_read(".nii", 0);
    check_read(".nii.gz", 0);
    check_read(".nii", 1); /* NIfTI-2 in */
}

Test(nifti, what_is_not_one_readable_volume_is_refused) {
    size_t len;
    api_error e;
    api_volume v;
    uint8_t *four_d = make_file(".nii.gz", 0, 2, &len);
    cr_assert_eq(api_nifti_read(four_d, len, 1000, &v, &e), API_UNPROCESSABLE);
    cr_assert(strstr(e.detail, "one 3-D volume"), "%s", e.detail);
    free(four_d);
    uint8_t *ok = make_file(".nii", 0, 1, &len);
    cr_assert_eq(api_nifti_read(ok, len, 59, &v, &e), API_TOO_LARGE, "max_voxels from the header");
    cr_assert(strstr(e.detail, "max_voxels"), "%s", e.detail);
    cr_assert_eq(api_nifti_read(ok, len - 20, 1000, &v, &e), API_UNPROCESSABLE, "truncated data");
    cr_assert_eq(api_nifti_read(ok, 200, 1000, &v, &e), API_UNPROCESSABLE, "truncated header");
    static const uint8_t junk[] = "this is not a volume at all, only words and more words";
    cr_assert_eq(api_nifti_read(junk, sizeof junk, 1000, &v, &e), API_UNPROCESSABLE);
    free(ok);
    /* nothing is left behind in /dev/shm */
    FILE *p = popen("ls /dev/shm | grep -c '^lgmsd-' || true", "r");
    int n = -1;
    cr_assert_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    cr_assert_eq(n, 0, "%d lgmsd files left in /dev/shm", n);
}

/* A NIfTI-2 header with these dims and spacing, then data bytes (zeros). */
static uint8_t *hostile_nifti2(const int64_t dims[3], const double spacing[3], size_t data, size_t *len) {
    nifti_2_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 540;
    memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    h.datatype = DT_UINT8, h.bitpix = 8;
    int64_t dim[8] = {3, dims[0], dims[1], dims[2], 1, 1, 1, 1};
    double pixdim[8] = {1, spacing[0], spacing[1], spacing[2], 1, 1, 1, 1};
    memcpy(h.dim, dim, sizeof dim);
    memcpy(h.pixdim, pixdim, sizeof pixdim);
    h.vox_offset = 544;
    h.scl_slope = 1.0;
    *len = 544 + data;
    uint8_t *buf = calloc(1, *len);
    memcpy(buf, &h, sizeof h);
    return buf;
}

Test(nifti, hostile_spacings_are_refused_before_any_data_is_read) {
    /* 1e30 once turned the resampled size into INT_MIN and crashed the resampler */
    const double bad[][3] = {{1e30, 1, 1},     {1, 0, 1},    {1, 1, -2},    {NAN, 1, 1},
                             {1, INFINITY, 1}, {1e-9, 1, 1}, {1, 1, 5000.0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        const int64_t dims[3] = {16, 16, 8};
        uint8_t *b = hostile_nifti2(dims, bad[i], 16 * 16 * 8, &len);
        api_nifti_info info;
        api_volume v;
        api_error e;
        cr_assert_eq(api_nifti_probe(b, len, 1u << 20, &info, &e), API_UNPROCESSABLE, "spacing case %zu", i);
        cr_assert(strstr(e.detail, "spacing"), "%s", e.detail);
        cr_assert_eq(api_nifti_read(b, len, 1u << 20, &v, &e), API_UNPROCESSABLE);
        free(b);
    }
}

Test(nifti, dimensions_that_overflow_are_refused) {
    /* 12648448 x 65537 x 22253377 = 2^64 + 2^16: libnifti2's voxel count wraps to 65536, which
     * passed max_voxels while the int sides made the resampler read far past the data */
    const int64_t wrap[3] = {193ll << 16, 65537, 22253377};
    const int64_t too_long[3] = {(1ll << 32) + 1, 1, 1};
    const double sp[3] = {1.5, 1.5, 2.0};
    size_t len;
    api_nifti_info info;
    api_volume v;
    char err[256];
    api_error e;
    uint8_t *b = hostile_nifti2(wrap, sp, 65536, &len);
    cr_assert_eq(api_nifti_probe(b, len, 1u << 31, &info, &e), API_TOO_LARGE, "%s", e.detail);
    cr_assert(strstr(e.detail, "max_voxels"), "%s", e.detail);
    cr_assert_eq(api_nifti_read(b, len, UINT64_MAX, &v, &e), API_TOO_LARGE, "even with no voxel limit: %s", err);
    free(b);
    b = hostile_nifti2(too_long, sp, 16, &len);
    cr_assert_eq(api_nifti_probe(b, len, UINT64_MAX, &info, &e), API_UNPROCESSABLE);
    cr_assert(strstr(e.detail, "2147483647"), "%s", e.detail);
    free(b);
}

Test(nifti, probe_reads_units_and_axes_from_the_header_alone) {
    size_t len;
    uint8_t *bytes = make_file(".nii.gz", 0, 1, &len);
    api_nifti_info info;
    api_error e;
    /* only the first bytes are needed: a file cut after its header still probes */
    cr_assert_eq(api_nifti_probe(bytes, len, 1000, &info, &e), API_OK, "%s", e.detail);
    cr_assert_eq(info.version, 1);
    cr_assert_eq(info.nx * 100 + info.ny * 10 + info.nz, 543);
    cr_assert_eq(info.voxels, 60);
    cr_assert_float_eq(info.spacing[1], 0.9, 1e-6);
    cr_assert_eq(info.axis_codes[0], NIFTI_A2P, "the sform, as libnifti2 reads it");
    cr_assert_eq(info.axis_codes[1], NIFTI_L2R);
    free(bytes);
    const int64_t dims[3] = {4, 4, 4};
    const double metres[3] = {0.0015, 0.0015, 0.002};
    uint8_t *b = hostile_nifti2(dims, metres, 64, &len);
    b[offsetof(nifti_2_header, xyzt_units)] = NIFTI_UNITS_METER;
    cr_assert_eq(api_nifti_probe(b, len, 1000, &info, &e), API_OK, "%s", e.detail);
    cr_assert_float_eq(info.spacing[0], 1.5, 1e-9, "metres are turned into mm");
    free(b);
}

/* The plan a 3-D model makes of a volume's header, and its limits (api/segment_volume.h). */
Test(nifti, volume_plan_bounds_the_resampled_grid_and_the_patches) {
    lgms_model *m;
    char err[512];
    api_error e;
    cr_assert_eq(lgms_model_load("fixtures/small3d-14class.lgms", &m, err, sizeof err), LGMS_OK, "%s", e.detail);
    const lgms_meta *mt = lgms_model_meta(m); /* spacing 1.5 x 1.5 x 2 mm, 96^3 patches */
    /* 64^3 voxels of 7.5 mm: 610 bytes of header and zeros become a 320 x 320 x 240 grid */
    const int64_t dims[3] = {64, 64, 64};
    const double coarse[3] = {7.5, 7.5, 7.5};
    size_t len;
    uint8_t *b = hostile_nifti2(dims, coarse, 64 * 64 * 64, &len);
    api_volume_limits lim = {1u << 27, 16u << 20, 256};
    api_volume_plan plan;
    cr_assert_eq(api_volume_check(mt, b, len, &lim, &plan, &e), API_TOO_LARGE);
    cr_assert(strstr(e.detail, "max_grid_voxels"), "%s", e.detail);
    lim.max_grid_voxels = 1u << 30;
    lim.max_patches = 100;
    cr_assert_eq(api_volume_check(mt, b, len, &lim, &plan, &e), API_TOO_LARGE);
    cr_assert(strstr(e.detail, "144 sliding-window patches; max_patches = 100"), "%s", e.detail);
    lim.max_patches = 144;
    cr_assert_eq(api_volume_check(mt, b, len, &lim, &plan, &e), API_OK, "%s", e.detail);
    cr_assert_eq(plan.grid[0] * 1000000ll + plan.grid[1] * 1000 + plan.grid[2], 320320240ll);
    cr_assert_eq(plan.grid_voxels, 320ull * 320 * 240);
    cr_assert_gt(plan.bytes, plan.grid_voxels * 4 * 15, "logits of 14 classes dominate: %llu",
                 (unsigned long long)plan.bytes);
    free(b);
    lgms_model_free(m);
}
