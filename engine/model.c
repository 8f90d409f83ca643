/* model.c - build the in-memory LGMSNet (2-D) or LGMSNet-3D from a parsed model file.
 *
 * Every tensor the architecture needs is looked up by its official state_dict key and
 * its shape checked; a missing, mis-shaped or unused tensor is an error naming the key.
 * BatchNorm is folded where that is exact (conv -> BN); where BN follows an activation
 * (the fusion blocks) it stays a per-channel affine applied after the activation. In 3-D
 * those BatchNorms are InstanceNorms without parameters: nothing to fold, the conv is
 * marked and the graph normalises with each patch's own statistics. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conv_pointwise.h"
#include "conv_winograd.h"
#include "model_internal.h"
#include "modelfile.h"

#define BN_EPS 1e-5

typedef struct {
    lgms_file *f;
    int nd; /* spatial dimensions: 2 or 3 */
    float *pool;
    size_t pool_used, pool_cap;
    lgms_status st;
    char *err;
    size_t errlen;
} builder;

static void set_err(builder *b, lgms_status st, const char *fmt, ...) {
    if (b->st) return;
    b->st = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
}

/* Room for n floats in the model's weight pool (64-byte aligned). */
static float *pool_take(builder *b, size_t n) {
    size_t need = (n + 15) / 16 * 16;
    if (b->st) return NULL;
    if (need > b->pool_cap - b->pool_used) {
        set_err(b, LGMS_ERR_NOMEM, "internal: weight pool exhausted");
        return NULL;
    }
    float *p = b->pool + b->pool_used;
    b->pool_used += need;
    return p;
}

/* Fetch tensor "prefix.suffix" with exactly the given shape (ndim values), as float32 in the pool. */
static float *tensor(builder *b, const char *prefix, const char *suffix, int ndim, ...) {
    if (b->st) return NULL;
    char key[LGMS_FILE_NAME_SIZE + 32];
    snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", suffix);
    lgms_file_tensor *t = lgms_file_find(b->f, key);
    int want[LGMS_FILE_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++)
        want[i] = va_arg(ap, int);
    va_end(ap);
    char wantstr[96] = "", gotstr[96] = "";
    for (int i = 0; i < ndim; i++)
        snprintf(wantstr + strlen(wantstr), sizeof wantstr - strlen(wantstr), "%s%d", i ? "x" : "", want[i]);
    if (!t) {
        set_err(b, LGMS_ERR_MISMATCH, "model file lacks tensor %s (expected shape %s)", key, wantstr);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        for (int i = 0; i < t->ndim; i++)
            snprintf(gotstr + strlen(gotstr), sizeof gotstr - strlen(gotstr), "%s%d", i ? "x" : "", t->shape[i]);
        set_err(b, LGMS_ERR_MISMATCH, "tensor %s has shape %s, the architecture needs %s", key,
                t->ndim ? gotstr : "scalar", wantstr);
        return NULL;
    }
    t->used = 1;
    float *dst = pool_take(b, t->numel);
    if (dst) lgms_file_tensor_f32(t, dst);
    return dst;
}

/* Eval-mode BatchNorm as y = x * s + t (written into the pool). */
static void batchnorm(builder *b, const char *prefix, int c, const float **s_out, const float **t_out) {
    float *w = tensor(b, prefix, "weight", 1, c), *bias = tensor(b, prefix, "bias", 1, c);
    float *mean = tensor(b, prefix, "running_mean", 1, c), *var = tensor(b, prefix, "running_var", 1, c);
    char key[LGMS_FILE_NAME_SIZE + 32];
    snprintf(key, sizeof key, "%s.num_batches_tracked", prefix);
    lgms_file_tensor *nbt = lgms_file_find(b->f, key); /* optional, unused at inference */
    if (nbt) nbt->used = 1;
    if (b->st) return;
    for (int i = 0; i < c; i++) {
        if (!(var[i] >= 0.0f) || !isfinite(var[i])) {
            set_err(b, LGMS_ERR_MISMATCH, "tensor %s.running_var[%d] is negative or not finite", prefix, i);
            return;
        }
        double s = w[i] / sqrt((double)var[i] + BN_EPS);
        w[i] = (float)s;                          /* becomes the scale */
        bias[i] = (float)(bias[i] - mean[i] * s); /* becomes the shift */
    }
    *s_out = w, *t_out = bias;
}

/* A conv weight: [cout][cin_g][k][k], or [cout][cin_g][k][k][k] in 3-D. */
static float *conv_weight(builder *b, const char *prefix, int cout, int cin_g, int k) {
    if (b->nd == 3) return tensor(b, prefix, "weight", 5, cout, cin_g, k, k, k);
    return tensor(b, prefix, "weight", 4, cout, cin_g, k, k);
}

/* 3-D: conv (optional bias) whose norm is an InstanceNorm, before or after act. */
static void conv_inorm(builder *b, lgms_conv *c, const char *prefix, int cin, int cout, int k, int groups, int has_bias,
                       lgms_act act, lgms_inorm where) {
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->k = k, c->kd = k, c->groups = groups, c->act = act, c->inorm = where;
    c->weight = conv_weight(b, prefix, cout, cin / groups, k);
    c->bias = has_bias ? tensor(b, prefix, "bias", 1, cout) : NULL;
}

/* conv (prefix, optional bias) followed by BN (bn_prefix) folded into it: W' = sW, b' = s b + t. */
static void conv_bn(builder *b, lgms_conv *c, const char *prefix, const char *bn_prefix, int cin, int cout, int k,
                    int groups, int has_bias, lgms_act act) {
    if (b->nd == 3) {
        conv_inorm(b, c, prefix, cin, cout, k, groups, has_bias, act, LGMS_INORM_BEFORE_ACT);
        return;
    }
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->k = k, c->groups = groups, c->act = act;
    float *w = tensor(b, prefix, "weight", 4, cout, cin / groups, k, k);
    float *bias = has_bias ? tensor(b, prefix, "bias", 1, cout) : pool_take(b, (size_t)cout);
    const float *s, *t;
    batchnorm(b, bn_prefix, cout, &s, &t);
    if (b->st) return;
    size_t per = (size_t)(cin / groups) * k * k;
    for (int o = 0; o < cout; o++) {
        for (size_t i = 0; i < per; i++)
            w[o * per + i] *= s[o];
        bias[o] = (has_bias ? bias[o] * s[o] : 0.0f) + t[o];
    }
    c->weight = w, c->bias = bias;
}

/* conv with bias, activation, then a BN applied after the activation. */
static void conv_act_bn(builder *b, lgms_conv *c, const char *prefix, const char *bn_prefix, int cin, int cout, int k,
                        int groups, lgms_act act) {
    if (b->nd == 3) {
        conv_inorm(b, c, prefix, cin, cout, k, groups, 1, act, LGMS_INORM_AFTER_ACT);
        return;
    }
    memset(c, 0, sizeof *c);
    c->cin = cin, c->cout = cout, c->k = k, c->groups = groups, c->act = act;
    c->weight = tensor(b, prefix, "weight", 4, cout, cin / groups, k, k);
    c->bias = tensor(b, prefix, "bias", 1, cout);
    batchnorm(b, bn_prefix, cout, &c->post_scale, &c->post_shift);
}

static void join(char *dst, size_t cap, const char *a, const char *b) { snprintf(dst, cap, "%.100s.%.60s", a, b); }

/* PBS / CBS at key prefix P: P.0 conv (no bias), P.1 BN, SiLU. */
static void conv_bn_silu(builder *b, lgms_conv *c, const char *p, int cin, int cout, int k) {
    char conv[192], bn[192];
    join(conv, sizeof conv, p, "0");
    join(bn, sizeof bn, p, "1");
    conv_bn(b, c, conv, bn, cin, cout, k, 1, 0, LGMS_ACT_SILU);
}

static void build_lms(builder *b, lgms_lms_block *L, const char *p, int c) {
    static const char *dw[4] = {"local_dwc", "global_dwc_s", "global_dwc_m", "global_dwc_l"};
    char key[192];
    int g = c / 4;
    L->c = c;
    join(key, sizeof key, p, "norm_act.0");
    L->gn_gamma = tensor(b, key, "weight", 1, c);
    L->gn_beta = tensor(b, key, "bias", 1, c);
    for (int q = 0; q < 4; q++) {
        join(key, sizeof key, p, dw[q]);
        int k = 3 + 2 * q;
        L->dw_weight[q] =
            b->nd == 3 ? tensor(b, key, "weight", 5, g, 1, k, k, k) : tensor(b, key, "weight", 4, g, 1, k, k);
        L->dw_bias[q] = tensor(b, key, "bias", 1, g);
    }
    join(key, sizeof key, p, "conv_1x1_bn");
    conv_bn_silu(b, &L->pbs, key, c, g, 1);
    join(key, sizeof key, p, "conv_nxn_bn");
    conv_bn_silu(b, &L->cbs, key, g, c, 3);
}

static void build_gms(builder *b, lgms_gms_block *G, const char *p, int cin, int c, const int split[2]) {
    char key[192], bn[192];
    int a = split[0], bb = split[1], mlp = 2 * c;
    G->cin = cin, G->c = c, G->a = a, G->b = bb, G->mlp = mlp;
    if (a + bb != c || a <= 0 || bb <= 0) {
        set_err(b, LGMS_ERR_FORMAT, "split %d/%d of block %s does not add up to its %d channels", a, bb, p, c);
        return;
    }
    join(key, sizeof key, p, "conv1");
    conv_bn_silu(b, &G->conv1, key, cin, c, 3);
    join(key, sizeof key, p, "conv2");
    conv_bn_silu(b, &G->conv2, key, c, c, 1);
    /* conv branch: ReLU(bn1(dw3x3(x))) then bn2(scale * r) */
    int taps = b->nd == 3 ? 27 : 9;
    join(key, sizeof key, p, b->nd == 3 ? "conv_spilt.dwconv3x3x3" : "conv_spilt.dwconv3x3");
    float *dw = conv_weight(b, key, bb, 1, 3);
    float *dwb = pool_take(b, (size_t)bb);
    const float *s1, *t1, *s2, *t2;
    join(bn, sizeof bn, p, "conv_spilt.bn1");
    batchnorm(b, bn, bb, &s1, &t1);
    join(key, sizeof key, p, b->nd == 3 ? "conv_spilt.dwconv1x1x1" : "conv_spilt.dwconv1x1");
    float *scale = conv_weight(b, key, bb, 1, 1);
    join(bn, sizeof bn, p, "conv_spilt.bn2");
    batchnorm(b, bn, bb, &s2, &t2);
    if (!b->st) {
        float *shift = pool_take(b, (size_t)bb);
        for (int i = 0; i < bb && shift; i++) {
            for (int j = 0; j < taps; j++)
                dw[i * taps + j] *= s1[i];
            dwb[i] = t1[i];
            scale[i] *= s2[i];
            shift[i] = t2[i];
        }
        G->dw_weight = dw, G->dw_bias = dwb, G->branch_scale = scale, G->branch_shift = shift;
    }
    join(key, sizeof key, p, "transformer.layers.0.0");
    char sub[256];
    snprintf(sub, sizeof sub, "%s.norm", key);
    G->ln1_gamma = tensor(b, sub, "weight", 1, a);
    G->ln1_beta = tensor(b, sub, "bias", 1, a);
    G->qkv = (lgms_conv){.cin = a, .cout = 96, .k = 1, .groups = 1};
    G->qkv.weight = tensor(b, key, "to_qkv.weight", 2, 96, a);
    G->proj = (lgms_conv){.cin = 32, .cout = a, .k = 1, .groups = 1};
    G->proj.weight = tensor(b, key, "to_out.0.weight", 2, a, 32);
    G->proj.bias = tensor(b, key, "to_out.0.bias", 1, a);
    join(key, sizeof key, p, "transformer.layers.0.1.net");
    G->ln2_gamma = tensor(b, key, "0.weight", 1, a);
    G->ln2_beta = tensor(b, key, "0.bias", 1, a);
    G->fc1 = (lgms_conv){.cin = a, .cout = mlp, .k = 1, .groups = 1, .act = LGMS_ACT_SILU};
    G->fc1.weight = tensor(b, key, "1.weight", 2, mlp, a);
    G->fc1.bias = tensor(b, key, "1.bias", 1, mlp);
    G->fc2 = (lgms_conv){.cin = mlp, .cout = a, .k = 1, .groups = 1};
    G->fc2.weight = tensor(b, key, "4.weight", 2, a, mlp);
    G->fc2.bias = tensor(b, key, "4.bias", 1, a);
    join(key, sizeof key, p, "conv3");
    conv_bn_silu(b, &G->conv3, key, c, c, 1);
    join(key, sizeof key, p, "conv4");
    conv_bn_silu(b, &G->conv4, key, c + cin, c, 3);
}

static void build_up(builder *b, lgms_up *u, const char *p, int cin, int cout) {
    char conv[192], bn[192];
    join(conv, sizeof conv, p, "up.1");
    join(bn, sizeof bn, p, "up.2");
    memset(u, 0, sizeof *u);
    conv_bn(b, &u->conv, conv, bn, cin, cout, 3, 1, 1, LGMS_ACT_RELU);
}

static void build_fuse(builder *b, lgms_fuse_block *F, const char *p, int c) {
    char conv[192], bn[192];
    join(conv, sizeof conv, p, "conv.0");
    join(bn, sizeof bn, p, "conv.2");
    conv_act_bn(b, &F->c0, conv, bn, 2 * c, 2 * c, 3, 2, LGMS_ACT_GELU);
    join(conv, sizeof conv, p, "conv.3");
    join(bn, sizeof bn, p, "conv.5");
    conv_act_bn(b, &F->c1, conv, bn, 2 * c, 4 * c, 1, 1, LGMS_ACT_GELU);
    join(conv, sizeof conv, p, "conv.6");
    join(bn, sizeof bn, p, "conv.8");
    conv_act_bn(b, &F->c2, conv, bn, 4 * c, c, 1, 1, LGMS_ACT_GELU);
}

static void build_network(builder *b, lgms_model *m) {
    const lgms_meta *mt = &m->meta;
    const int *d = mt->dims;
    char key[64];
    conv_bn(b, &m->stem, "stem.conv.0", "stem.conv.1", mt->in_channels, d[0], 3, 1, 1, LGMS_ACT_RELU);
    const int lms_c[3] = {d[0], d[0], d[1]}, pbs_out[3] = {d[0], d[1], d[2]};
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < mt->depths[e]; i++) {
            snprintf(key, sizeof key, "encoder%d.%d", e + 1, i);
            build_lms(b, &m->enc_lms[e][i], key, lms_c[e]);
        }
        snprintf(key, sizeof key, "encoder%d.%d", e + 1, mt->depths[e]);
        conv_bn_silu(b, &m->enc_pbs[e], key, lms_c[e], pbs_out[e], 1);
    }
    build_gms(b, &m->enc4, "encoder4.0", d[2], d[3], mt->splits[0]);
    build_gms(b, &m->enc5, "encoder5.0", d[3], d[4], mt->splits[1]);
    build_up(b, &m->up5, "Up5", d[4], d[3]);
    build_gms(b, &m->dec5, "Up_conv5", 2 * d[3], d[3], mt->splits[2]);
    build_up(b, &m->up4, "Up4", d[3], d[2]);
    build_fuse(b, &m->fuse4, "Up_conv4.0", d[2]);
    build_gms(b, &m->dec4, "Up_conv4.1", d[2], d[2], mt->splits[3]);
    build_up(b, &m->up3, "Up3", d[2], d[1]);
    build_fuse(b, &m->fuse3, "Up_conv3", d[1]);
    build_up(b, &m->up2, "Up2", d[1], d[0]);
    build_fuse(b, &m->fuse2, "Up_conv2", d[0]);
    memset(&m->head, 0, sizeof m->head);
    m->head.cin = d[0], m->head.cout = mt->num_classes, m->head.k = 1, m->head.groups = 1;
    m->head.kd = b->nd == 3 ? 1 : 0;
    m->head.weight = conv_weight(b, "Conv_1x1", mt->num_classes, d[0], 1);
    m->head.bias = tensor(b, "Conv_1x1", "bias", 1, mt->num_classes);
}

/* Every convolution of the network; returns how many. */
static int model_convs(lgms_model *m, lgms_conv **list) {
    int n = 0;
    list[n++] = &m->stem;
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < m->meta.depths[e]; i++)
            list[n++] = &m->enc_lms[e][i].pbs, list[n++] = &m->enc_lms[e][i].cbs;
        list[n++] = &m->enc_pbs[e];
    }
    lgms_gms_block *gms[4] = {&m->enc4, &m->enc5, &m->dec5, &m->dec4};
    for (int i = 0; i < 4; i++) {
        list[n++] = &gms[i]->conv1, list[n++] = &gms[i]->conv2, list[n++] = &gms[i]->conv3, list[n++] = &gms[i]->conv4;
        list[n++] = &gms[i]->qkv, list[n++] = &gms[i]->proj, list[n++] = &gms[i]->fc1, list[n++] = &gms[i]->fc2;
    }
    lgms_up *ups[4] = {&m->up5, &m->up4, &m->up3, &m->up2};
    for (int i = 0; i < 4; i++) /* an Up taken by upconv.c runs its phases, never the conv itself */
        list[n++] = ups[i]->phases.weight ? &ups[i]->phases : &ups[i]->conv;
    lgms_fuse_block *fuse[3] = {&m->fuse4, &m->fuse3, &m->fuse2};
    for (int i = 0; i < 3; i++)
        list[n++] = &fuse[i]->c0, list[n++] = &fuse[i]->c1, list[n++] = &fuse[i]->c2;
    list[n++] = &m->head;
    return n;
}

#define MODEL_MAX_CONVS (1 + 3 * (2 * LGMS_MAX_DEPTH + 1) + 32 + 4 + 9 + 1)

/* Filters prepared for the kernels that want their own layout: first the phase filters of
 * the 2-D Ups upconv.c takes (a buffer of their own), then, in one buffer for all,
 * Winograd-transformed for the 2-D 3x3 layers conv_winograd.c takes (those phases among
 * them) and packed in panels for the 1x1 layers of conv_pointwise.c. */
static lgms_status transform_filters(lgms_model *m) {
    lgms_up *ups[4] = {&m->up5, &m->up4, &m->up3, &m->up2};
    size_t up_total = 0;
    for (int i = 0; i < 4; i++)
        if (lgms_upconv_layer(&ups[i]->conv)) /* 2-D only: 3-D convs have kd 3 and an InstanceNorm */
            up_total += lgms_upconv_weights_size(&ups[i]->conv);
    if (up_total) {
        float *dst = m->upconv = malloc(up_total * sizeof(float));
        if (!dst) return LGMS_ERR_NOMEM;
        for (int i = 0; i < 4; i++)
            if (lgms_upconv_layer(&ups[i]->conv)) {
                lgms_upconv_build(ups[i], dst);
                dst += lgms_upconv_weights_size(&ups[i]->conv);
            }
    }
    lgms_conv *list[MODEL_MAX_CONVS];
    int n = model_convs(m, list);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (lgms_winograd_layer(list[i])) total += lgms_winograd_weights_size(list[i]);
        if (lgms_pointwise_layer(list[i])) total += lgms_pointwise_weights_size(list[i]);
    }
    if (!total) return LGMS_OK;
    m->wino = malloc(total * sizeof(float));
    if (!m->wino) return LGMS_ERR_NOMEM;
    float *dst = m->wino;
    for (int i = 0; i < n; i++)
        if (lgms_winograd_layer(list[i])) {
            if (lgms_winograd_transform_weights(list[i], dst)) return LGMS_ERR_NOMEM;
            list[i]->wino = dst;
            dst += lgms_winograd_weights_size(list[i]);
        } else if (lgms_pointwise_layer(list[i])) {
            lgms_pointwise_pack_weights(list[i], dst);
            list[i]->packed = dst;
            dst += lgms_pointwise_weights_size(list[i]);
        }
    return LGMS_OK;
}

lgms_status lgms_model_load_mem(const void *data, size_t size, lgms_model **out, char *err, size_t errlen) {
    *out = NULL;
    if (err && errlen) err[0] = 0;
    double t0 = lgms_now();
    lgms_file f;
    lgms_status st = lgms_file_parse(data, size, &f, err, errlen);
    if (st) return st;
    lgms_model *m = calloc(1, sizeof *m);
    size_t total = 0;
    for (int i = 0; i < f.n_tensors; i++)
        total += (f.tensors[i].numel + 15) / 16 * 16;
    /* folding never needs more than the file holds, plus a bias/shift per conv */
    size_t cap = total + 64 * 1024;
    float *pool = m ? aligned_alloc(64, cap * sizeof(float)) : NULL;
    if (!m || !pool) {
        free(m);
        free(pool);
        lgms_file_release(&f);
        snprintf(err, errlen, "out of memory loading the model");
        return LGMS_ERR_NOMEM;
    }
    m->meta = f.meta;
    m->weights = pool;
    builder b = {.f = &f, .nd = f.meta.spatial_dims, .pool = pool, .pool_cap = cap, .err = err, .errlen = errlen};
    build_network(&b, m);
    for (int i = 0; !b.st && i < f.n_tensors; i++)
        if (!f.tensors[i].used)
            set_err(&b, LGMS_ERR_MISMATCH, "model file has tensor %s, which the declared architecture does not use",
                    f.tensors[i].name);
    int64_t params = 0;
    for (int i = 0; i < f.n_tensors; i++)
        if (!strstr(f.tensors[i].name, "running_") && !strstr(f.tensors[i].name, "num_batches_tracked"))
            params += (int64_t)f.tensors[i].numel;
    m->meta.param_count = params;
    lgms_file_release(&f);
    double t1 = lgms_now();
    if (!b.st && transform_filters(m)) set_err(&b, LGMS_ERR_NOMEM, "out of memory transforming the model's filters");
    if (b.st) {
        lgms_model_free(m);
        return b.st;
    }
    m->read_seconds = t1 - t0;
    m->pack_seconds = lgms_now() - t1;
    *out = m;
    return LGMS_OK;
}

void lgms_model_load_seconds(const lgms_model *m, double *read, double *pack) {
    *read = m->read_seconds;
    *pack = m->pack_seconds;
}

lgms_status lgms_model_load(const char *path, lgms_model **out, char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open model file %s: %s", path, strerror(errno));
        return LGMS_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        close(fd);
        snprintf(err, errlen, "model file %s is not a non-empty regular file", path);
        return LGMS_ERR_IO;
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "cannot map model file %s: %s", path, strerror(errno));
        return LGMS_ERR_IO;
    }
    char inner[512] = "";
    lgms_status st = lgms_model_load_mem(map, (size_t)sb.st_size, out, inner, sizeof inner);
    munmap(map, (size_t)sb.st_size);
    if (st) snprintf(err, errlen, "%s: %s", path, inner);
    return st;
}

void lgms_model_free(lgms_model *m) {
    if (!m) return;
    free(m->weights);
    free(m->wino);
    free(m->upconv);
    free(m);
}

const lgms_meta *lgms_model_meta(const lgms_model *m) { return &m->meta; }
