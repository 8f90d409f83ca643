/* test_engine.c - engine parity against the PyTorch port (fixtures made by
 * tools/make_fixtures.py: random weights and random BatchNorm statistics), and clear
 * errors for illegal sizes and broken model files. Run from tests/. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/npy.h"
#include "../../engine/lgms.h"
#include "alloc_counter.h"

#define FIX "fixtures/"

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run the tests from tests/)", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*len);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

/* One forward of a 4-D (2-D model) or 5-D (3-D model) .npy input. */
static lgms_status run_npy(lgms_state *st, const npy_array *in, float *out, char *err, size_t errlen) {
    if (in->ndim == 5)
        return lgms_forward3d(st, in->data, (int)in->shape[0], (int)in->shape[2], (int)in->shape[3], (int)in->shape[4],
                              out, err, errlen);
    return lgms_forward(st, in->data, (int)in->shape[0], (int)in->shape[2], (int)in->shape[3], out, err, errlen);
}

/* Max abs error of the engine on threads threads against the reference output. */
static double parity_on(const char *model, const char *in_npy, const char *out_npy, int threads) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(model, &m, err, sizeof err), LGMS_OK, "%s", err);
    npy_array in, want;
    cr_assert_eq(npy_read(in_npy, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(npy_read(out_npy, &want, err, sizeof err), 0, "%s", err);
    float *got = malloc(want.numel * sizeof(float));
    lgms_state *st = lgms_state_new(m);
    cr_assert_eq(lgms_state_set_threads(st, threads), LGMS_OK);
    cr_assert_eq(run_npy(st, &in, got, err, sizeof err), LGMS_OK, "%s", err);
    double maxerr = 0;
    for (size_t i = 0; i < want.numel; i++)
        maxerr = fmax(maxerr, fabs((double)got[i] - want.data[i]));
    /* a second run on the same state must give the same bits (scratch reuse is clean) */
    float *again = malloc(want.numel * sizeof(float));
    cr_assert_eq(run_npy(st, &in, again, err, sizeof err), LGMS_OK);
    cr_assert_eq(memcmp(got, again, want.numel * sizeof(float)), 0, "second run differs");
    free(got), free(again);
    npy_free(&in), npy_free(&want);
    lgms_state_free(st);
    lgms_model_free(m);
    return maxerr;
}

static double parity(const char *model, const char *in_npy, const char *out_npy) {
    return parity_on(model, in_npy, out_npy, 1);
}

Test(engine, parity_256_square) {
    double e =
        parity(FIX "official-1class.lgms", FIX "official-1class-s256-in.npy", FIX "official-1class-s256-out.npy");
    cr_log_info("max abs error at 1x3x256x256: %g", e);
    cr_assert_leq(e, 1e-4, "max abs error %g", e);
}

Test(engine, parity_160x224_non_square) {
    double e = parity(FIX "official-1class.lgms", FIX "official-1class-s160x224-in.npy",
                      FIX "official-1class-s160x224-out.npy");
    cr_assert_leq(e, 1e-4, "max abs error %g", e);
}

Test(engine, parity_three_classes_batch2_depth2) {
    double e = parity(FIX "small-3class.lgms", FIX "small-3class-b2-in.npy", FIX "small-3class-b2-out.npy");
    cr_assert_leq(e, 1e-4, "max abs error %g", e);
}

/* Every op split across a team (rows, channels, groups, heads, tokens), with odd team
 * sizes so splits are uneven. */
Test(engine, parity_with_thread_teams) {
    double e =
        parity_on(FIX "official-1class.lgms", FIX "official-1class-s256-in.npy", FIX "official-1class-s256-out.npy", 2);
    cr_assert_leq(e, 1e-4, "2 threads: max abs error %g", e);
    e = parity_on(FIX "official-1class.lgms", FIX "official-1class-s160x224-in.npy",
                  FIX "official-1class-s160x224-out.npy", 3);
    cr_assert_leq(e, 1e-4, "3 threads: max abs error %g", e);
    e = parity_on(FIX "small-3class.lgms", FIX "small-3class-b2-in.npy", FIX "small-3class-b2-out.npy", 5);
    cr_assert_leq(e, 1e-4, "5 threads: max abs error %g", e);
}

/* LGMSNet-3D: InstanceNorm, cubic kernels, trilinear upsampling, 8 token groups; random
 * weights and random BatchNorm statistics in the depthwise branch (tools/make_fixtures.py). */
Test(engine, parity_3d_14_classes) {
    for (int threads = 1; threads <= 3; threads += 2) {
        double e = parity_on(FIX "small3d-14class.lgms", FIX "small3d-14class-d32-in.npy",
                             FIX "small3d-14class-d32-out.npy", threads);
        cr_log_info("3-D max abs error at 1x1x32x64x64, %d thread(s): %g", threads, e);
        cr_assert_leq(e, 1e-4, "%d thread(s): max abs error %g", threads, e);
    }
}

/* The engine computes with denormals flushed (engine/fpmode.h) and gives the caller its own
 * floating-point mode back: a caller that relies on gradual underflow keeps it. */
Test(engine, forward_restores_the_callers_floating_point_mode) {
#if defined(__x86_64__)
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(FIX "official-1class.lgms", &m, err, sizeof err), LGMS_OK, "%s", err);
    lgms_state *st = lgms_state_new(m);
    cr_assert_eq(lgms_state_set_threads(st, 2), LGMS_OK);
    float *in = calloc(3 * 32 * 32, sizeof(float)), *out = malloc(32 * 32 * sizeof(float));
    unsigned before = __builtin_ia32_stmxcsr();
    cr_assert_eq(before & 0x8040u, 0u, "the test starts with FTZ and DAZ off");
    cr_assert_eq(lgms_forward(st, in, 1, 32, 32, out, err, sizeof err), LGMS_OK, "%s", err);
    cr_assert_eq(__builtin_ia32_stmxcsr(), before, "MXCSR after lgms_forward");
    volatile float tiny = 1e-38f;
    cr_assert_gt(tiny / 16.0f, 0.0f, "gradual underflow still on for the caller");
    free(in), free(out);
    lgms_state_free(st);
    lgms_model_free(m);
#endif
}

Test(engine, a_3d_model_refuses_2d_calls_and_vice_versa) {
    lgms_model *m3, *m2;
    char err[256];
    cr_assert_eq(lgms_model_load(FIX "small3d-14class.lgms", &m3, err, sizeof err), LGMS_OK, "%s", err);
    cr_assert_eq(lgms_model_meta(m3)->spatial_dims, 3);
    cr_assert_eq(lgms_model_meta(m3)->input_depth, 96);
    cr_assert_float_eq(lgms_model_meta(m3)->a_min, -175.0f, 1e-6);
    cr_assert_eq(lgms_model_load(FIX "small-3class.lgms", &m2, err, sizeof err), LGMS_OK, "%s", err);
    lgms_state *s3 = lgms_state_new(m3), *s2 = lgms_state_new(m2);
    float *buf = calloc(32 * 32 * 32 * 14, sizeof(float)), *out = calloc(32 * 32 * 32 * 14, sizeof(float));
    cr_assert_eq(lgms_forward(s3, buf, 1, 32, 32, out, err, sizeof err), LGMS_ERR_ARG);
    cr_assert(strstr(err, "lgms_forward3d"), "%s", err);
    cr_assert_eq(lgms_forward3d(s2, buf, 1, 32, 32, 32, out, err, sizeof err), LGMS_ERR_ARG);
    cr_assert_eq(lgms_forward3d(s3, buf, 1, 48, 32, 32, out, err, sizeof err), LGMS_ERR_ARG, "depth 48");
    cr_assert_eq(lgms_forward3d(s3, buf, 1, 32, 32, 32, out, err, sizeof err), LGMS_OK, "%s", err);
    free(buf), free(out);
    lgms_state_free(s3), lgms_state_free(s2);
    lgms_model_free(m3), lgms_model_free(m2);
}

Test(engine, illegal_sizes_are_errors) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(FIX "small-3class.lgms", &m, err, sizeof err), LGMS_OK);
    lgms_state *st = lgms_state_new(m);
    float in[3 * 48 * 64], out[3 * 48 * 64];
    memset(in, 0, sizeof in);
    cr_assert_eq(lgms_forward(st, in, 1, 48, 64, out, err, sizeof err), LGMS_ERR_ARG);
    cr_assert(strstr(err, "multiples of 32"), "message: %s", err);
    cr_assert_eq(lgms_forward(st, in, 0, 32, 32, out, err, sizeof err), LGMS_ERR_ARG);
    cr_assert_eq(lgms_forward(st, in, 1, 32, 32, out, err, sizeof err), LGMS_OK, "%s", err);
    lgms_state_free(st);
    lgms_model_free(m);
}

Test(engine, metadata_is_read) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(FIX "small-3class.lgms", &m, err, sizeof err), LGMS_OK);
    const lgms_meta *mt = lgms_model_meta(m);
    cr_assert_eq(mt->num_classes, 3);
    cr_assert_eq(mt->n_class_names, 2);
    cr_assert_str_eq(mt->class_names[1], "class2");
    cr_assert_eq(mt->dims[0], 8);
    cr_assert_eq(mt->depths[0], 2);
    cr_assert_eq(mt->channel_order, LGMS_ORDER_BGR);
    cr_assert_float_eq(mt->extra_scale, 1.0f / 255, 1e-9);
    lgms_model_free(m);
}

Test(engine, truncated_files_are_errors) {
    size_t len;
    uint8_t *buf = slurp(FIX "small-3class.lgms", &len);
    char err[512];
    /* every cut point in the header, metadata and table, then coarser steps through the data */
    for (size_t cut = 0; cut < len; cut += cut < 60000 ? 7 : 40009) {
        lgms_model *m = (lgms_model *)1;
        lgms_status st = lgms_model_load_mem(buf, cut, &m, err, sizeof err);
        cr_assert_neq(st, LGMS_OK, "a file cut at %zu bytes loaded", cut);
        cr_assert_null(m);
        cr_assert(err[0], "no message for a cut at %zu", cut);
    }
    free(buf);
}

Test(engine, corrupt_bytes_never_crash) {
    size_t len;
    uint8_t *buf = slurp(FIX "small-3class.lgms", &len);
    uint8_t *copy = malloc(len);
    char err[512];
    unsigned seed = 12345;
    int loaded = 0;
    for (int trial = 0; trial < 300; trial++) {
        memcpy(copy, buf, len);
        for (int k = 0; k < 4; k++) { /* flip bytes in the header, metadata or table */
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % 50000;
            copy[at] ^= (uint8_t)(1 + (seed & 0x7f));
        }
        lgms_model *m;
        if (lgms_model_load_mem(copy, len, &m, err, sizeof err) == LGMS_OK) {
            loaded++;
            lgms_model_free(m);
        }
    }
    cr_log_info("%d of 300 corrupted files still loaded (flips that hit data or padding)", loaded);
    free(copy), free(buf);
}

/* Rename the first tensor whose name contains `from` in an in-memory copy. */
static uint8_t *with_renamed_tensor(const uint8_t *buf, size_t len, const char *from, const char *to) {
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    uint64_t table;
    uint32_t count;
    memcpy(&count, copy + 12, 4);
    memcpy(&table, copy + 32, 8);
    for (uint32_t i = 0; i < count; i++) {
        char *name = (char *)copy + table + 128u * i;
        if (strstr(name, from)) {
            memset(name, 0, 88);
            strcpy(name, to);
            return copy;
        }
    }
    cr_assert_fail("no tensor named like %s", from);
    return NULL;
}

Test(engine, missing_and_extra_tensors_are_named) {
    size_t len;
    uint8_t *buf = slurp(FIX "small-3class.lgms", &len);
    char err[512];
    lgms_model *m;
    uint8_t *copy = with_renamed_tensor(buf, len, "Up_conv3.conv.3.weight", "Up_conv3.conv.3.wieght");
    cr_assert_eq(lgms_model_load_mem(copy, len, &m, err, sizeof err), LGMS_ERR_MISMATCH);
    cr_assert(strstr(err, "Up_conv3.conv.3.weight"), "message: %s", err);
    free(copy);
    copy = with_renamed_tensor(buf, len, "stem.conv.1.running_var", "stem.conv.1.running_varx");
    cr_assert_eq(lgms_model_load_mem(copy, len, &m, err, sizeof err), LGMS_ERR_MISMATCH);
    cr_assert(strstr(err, "stem.conv.1.running_var"), "message: %s", err);
    free(copy);
    free(buf);
}

Test(engine, mismatched_architecture_names_the_tensor) {
    size_t len;
    uint8_t *buf = slurp(FIX "small-3class.lgms", &len);
    /* declare other dims in the metadata than the tensors have */
    char *meta = (char *)buf + 64;
    char *dims = strstr(meta, "dims=8,16,32,64,64");
    cr_assert_not_null(dims);
    memcpy(dims, "dims=8,12,32,64,64", 18);
    char err[512];
    lgms_model *m;
    cr_assert_eq(lgms_model_load_mem(buf, len, &m, err, sizeof err), LGMS_ERR_MISMATCH);
    cr_assert(strstr(err, "tensor encoder2.1.0.weight has shape 16x8x1x1"), "message: %s", err);
    free(buf);
}

Test(engine, missing_file_is_io_error) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load("fixtures/does-not-exist.lgms", &m, err, sizeof err), LGMS_ERR_IO);
    cr_assert(strstr(err, "does-not-exist"));
}

Test(engine, flops_match_the_paper_count) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(FIX "official-1class.lgms", &m, err, sizeof err), LGMS_OK);
    double gflop = lgms_model_flops(m, 256, 256) / 1e9;
    /* 5.006 GMAC = 10.01 GFLOP at 256x256 (convolutions, linears, attention matmuls) */
    cr_assert(gflop > 9.9 && gflop < 10.1, "%.3f GFLOP", gflop);
    lgms_model_free(m);
}

Test(engine, no_allocation_per_inference_after_warmup) {
    lgms_model *m;
    char err[512];
    cr_assert_eq(lgms_model_load(FIX "official-1class.lgms", &m, err, sizeof err), LGMS_OK);
    float *in = calloc(3 * 256 * 256, sizeof(float)), *out = calloc(256 * 256, sizeof(float));
    for (int threads = 1; threads <= 2; threads++) {
        lgms_state *st = lgms_state_new(m);
        cr_assert_eq(lgms_state_set_threads(st, threads), LGMS_OK);
        cr_assert_eq(lgms_forward(st, in, 1, 256, 256, out, err, sizeof err), LGMS_OK); /* warm-up */
        long before = alloc_counter_calls();
        for (int i = 0; i < 3; i++)
            cr_assert_eq(lgms_forward(st, in, 1, 256, 256, out, err, sizeof err), LGMS_OK);
        cr_assert_eq(alloc_counter_calls() - before, 0, "%d thread(s): %ld allocations in 3 inferences", threads,
                     alloc_counter_calls() - before);
        cr_assert_gt(before, 0, "the counter counts nothing: is the binary linked with --wrap?");
        cr_log_info("scratch %.1f MiB per state at 256x256 with %d thread(s)", lgms_state_scratch_bytes(st) / 1048576.0,
                    threads);
        lgms_state_free(st);
    }
    free(in), free(out);
    lgms_model_free(m);
}
