/* modelfile.c - parse and validate a .lgms model file held in memory.
 *
 * Layout (little-endian; docs/model-format.md):
 *   header (64 B) | metadata "key=value\n" text | tensor table (128 B entries) | data (64 B aligned)
 * Every offset and size is checked against the buffer before use, so a truncated or
 * corrupt file is an error, never an out-of-bounds read. */
#include "modelfile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lgms model files are little-endian; this engine reads them in place"
#endif

static lgms_status fail(char *err, size_t errlen, lgms_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Parse "a,b,c" into n ints; returns 0 on success. */
static int parse_ints(const char *s, int *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > 1 << 20) return -1;
        out[i] = (int)v;
        s = end;
        if (i + 1 < n) {
            if (*s != ',') return -1;
            s++;
        }
    }
    return *s ? -1 : 0;
}

static int parse_floats(const char *s, float *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !isfinite(v)) return -1;
        out[i] = (float)v;
        s = end;
        if (i + 1 < n) {
            if (*s != ',') return -1;
            s++;
        }
    }
    return *s ? -1 : 0;
}

static int parse_class_names(lgms_meta *m, const char *v) {
    m->n_class_names = 0;
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t len = comma ? (size_t)(comma - v) : strlen(v);
        if (len == 0 || len >= LGMS_NAME_MAX || m->n_class_names >= LGMS_MAX_CLASSES) return -1;
        memcpy(m->class_names[m->n_class_names], v, len);
        m->class_names[m->n_class_names][len] = 0;
        m->n_class_names++;
        v += len + (comma ? 1 : 0);
        if (comma && !*v) return -1;
    }
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Apply one metadata line. Unknown keys are ignored (newer writers may add some). */
static int meta_set(lgms_meta *m, const char *key, const char *v, unsigned *seen) {
    int rc = 0;
    if (!strcmp(key, "arch")) {
        copy_str(m->arch, sizeof m->arch, v);
        *seen |= 1;
    } else if (!strcmp(key, "name")) {
        copy_str(m->name, sizeof m->name, v);
    } else if (!strcmp(key, "source")) {
        copy_str(m->source, sizeof m->source, v);
    } else if (!strcmp(key, "demonstration")) {
        m->demonstration = !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes");
    } else if (!strcmp(key, "in_channels")) {
        rc = parse_ints(v, &m->in_channels, 1);
        *seen |= 2;
    } else if (!strcmp(key, "num_classes")) {
        rc = parse_ints(v, &m->num_classes, 1);
        *seen |= 4;
    } else if (!strcmp(key, "dims")) {
        rc = parse_ints(v, m->dims, 5);
        *seen |= 8;
    } else if (!strcmp(key, "splits")) {
        int tmp[8];
        char buf[128];
        copy_str(buf, sizeof buf, v);
        for (char *p = buf; *p; p++)
            if (*p == ';') *p = ',';
        rc = parse_ints(buf, tmp, 8);
        for (int i = 0; i < 8 && !rc; i++)
            m->splits[i / 2][i % 2] = tmp[i];
        *seen |= 16;
    } else if (!strcmp(key, "depths")) {
        rc = parse_ints(v, m->depths, 3);
    } else if (!strcmp(key, "input_size")) {
        char buf[64];
        copy_str(buf, sizeof buf, v);
        char *x = strchr(buf, 'x');
        if (!x) return -1;
        *x = ',';
        int wh[2];
        rc = parse_ints(buf, wh, 2);
        m->input_width = wh[0];
        m->input_height = wh[1];
    } else if (!strcmp(key, "channel_order")) {
        if (!strcmp(v, "rgb"))
            m->channel_order = LGMS_ORDER_RGB;
        else if (!strcmp(v, "bgr"))
            m->channel_order = LGMS_ORDER_BGR;
        else
            rc = -1;
    } else if (!strcmp(key, "resize")) {
        if (!strcmp(v, "bilinear"))
            m->resize = LGMS_RESIZE_BILINEAR;
        else if (!strcmp(v, "lanczos4"))
            m->resize = LGMS_RESIZE_LANCZOS4;
        else if (!strcmp(v, "nearest"))
            m->resize = LGMS_RESIZE_NEAREST;
        else
            rc = -1;
    } else if (!strcmp(key, "mean")) {
        rc = parse_floats(v, m->mean, 3);
    } else if (!strcmp(key, "std")) {
        rc = parse_floats(v, m->std, 3);
    } else if (!strcmp(key, "extra_scale")) {
        rc = parse_floats(v, &m->extra_scale, 1);
    } else if (!strcmp(key, "threshold")) {
        rc = parse_floats(v, &m->threshold, 1);
        if (!rc && !(m->threshold > 0 && m->threshold < 1)) rc = -1;
    } else if (!strcmp(key, "classes")) {
        rc = parse_class_names(m, v);
    } else if (!strcmp(key, "roi")) { /* DxHxW */
        char buf[64];
        copy_str(buf, sizeof buf, v);
        for (char *p = buf; *p; p++)
            if (*p == 'x') *p = ',';
        int dhw[3];
        rc = parse_ints(buf, dhw, 3);
        m->input_depth = dhw[0], m->input_height = dhw[1], m->input_width = dhw[2];
    } else if (!strcmp(key, "spacing")) {
        rc = parse_floats(v, m->spacing, 3);
    } else if (!strcmp(key, "intensity_window")) {
        float ab[2];
        rc = parse_floats(v, ab, 2);
        m->a_min = ab[0], m->a_max = ab[1];
        if (!rc && !(ab[1] > ab[0])) rc = -1;
    } else if (!strcmp(key, "overlap")) {
        rc = parse_floats(v, &m->overlap, 1);
        if (!rc && !(m->overlap >= 0 && m->overlap < 1)) rc = -1;
    } else if (!strcmp(key, "blend")) {
        if (!strcmp(v, "constant"))
            m->blend_gaussian = 0;
        else if (!strcmp(v, "gaussian"))
            m->blend_gaussian = 1;
        else
            rc = -1;
    } else if (!strcmp(key, "orientation")) {
        if (!strcmp(v, "RAS"))
            m->orient_ras = 1;
        else if (!strcmp(v, "none"))
            m->orient_ras = 0;
        else
            rc = -1;
    }
    return rc;
}

static void meta_defaults(lgms_meta *m) {
    memset(m, 0, sizeof *m);
    static const int dims[5] = {16, 32, 64, 128, 128};
    static const int splits[4][2] = {{96, 32}, {96, 32}, {96, 32}, {48, 16}};
    memcpy(m->dims, dims, sizeof dims);
    memcpy(m->splits, splits, sizeof splits);
    m->depths[0] = m->depths[1] = m->depths[2] = 1;
    m->input_width = m->input_height = 256;
    m->channel_order = LGMS_ORDER_RGB;
    m->resize = LGMS_RESIZE_BILINEAR;
    m->mean[0] = 0.485f, m->mean[1] = 0.456f, m->mean[2] = 0.406f;
    m->std[0] = 0.229f, m->std[1] = 0.224f, m->std[2] = 0.225f;
    m->extra_scale = 1.0f;
    m->threshold = 0.5f;
    m->input_depth = 1;
    m->spacing[0] = 1.5f, m->spacing[1] = 1.5f, m->spacing[2] = 2.0f;
    m->a_min = -175.0f, m->a_max = 250.0f, m->overlap = 0.5f;
    copy_str(m->name, sizeof m->name, "model");
}

static lgms_status parse_meta(const char *text, size_t len, lgms_meta *m, char *err, size_t errlen) {
    meta_defaults(m);
    unsigned seen = 0;
    size_t i = 0;
    int lineno = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        lineno++;
        char line[1024];
        size_t n = j - i;
        if (n >= sizeof line) return fail(err, errlen, LGMS_ERR_FORMAT, "metadata line %d is too long", lineno);
        memcpy(line, text + i, n);
        line[n] = 0;
        i = j + 1;
        if (n == 0 || line[0] == '#') continue;
        if (memchr(line, 0, n)) return fail(err, errlen, LGMS_ERR_FORMAT, "metadata line %d holds a NUL byte", lineno);
        char *eq = strchr(line, '=');
        if (!eq) return fail(err, errlen, LGMS_ERR_FORMAT, "metadata line %d is not key=value", lineno);
        *eq = 0;
        if (meta_set(m, line, eq + 1, &seen))
            return fail(err, errlen, LGMS_ERR_FORMAT, "metadata key '%s' has a bad value '%.64s'", line, eq + 1);
    }
    if ((seen & 31) != 31)
        return fail(err, errlen, LGMS_ERR_FORMAT,
                    "metadata lacks one of the required keys arch, in_channels, num_classes, dims, splits");
    if (!strcmp(m->arch, "lgmsnet2d"))
        m->spatial_dims = 2, m->input_depth = 1;
    else if (!strcmp(m->arch, "lgmsnet3d"))
        m->spatial_dims = 3;
    else
        return fail(err, errlen, LGMS_ERR_FORMAT,
                    "unsupported architecture '%s' (this engine runs lgmsnet2d and lgmsnet3d)", m->arch);
    if (m->spatial_dims == 3 && (m->input_depth < 32 || m->input_depth % 32 || m->input_depth > 1024))
        return fail(err, errlen, LGMS_ERR_FORMAT, "roi depth %d must be a multiple of 32 (32..1024)", m->input_depth);
    if (m->in_channels < 1 || m->in_channels > 4 || m->num_classes < 1 || m->num_classes > LGMS_MAX_CLASSES)
        return fail(err, errlen, LGMS_ERR_FORMAT, "in_channels %d or num_classes %d out of range", m->in_channels,
                    m->num_classes);
    for (int k = 0; k < 5; k++)
        if (m->dims[k] < 4 || m->dims[k] % 4 || m->dims[k] > 4096)
            return fail(err, errlen, LGMS_ERR_FORMAT, "dims[%d] = %d must be a positive multiple of 4", k, m->dims[k]);
    for (int k = 0; k < 3; k++)
        if (m->depths[k] < 1 || m->depths[k] > 16)
            return fail(err, errlen, LGMS_ERR_FORMAT, "depths[%d] = %d out of range", k, m->depths[k]);
    if (m->input_width < 32 || m->input_height < 32 || m->input_width % 32 || m->input_height % 32 ||
        m->input_width > 4096 || m->input_height > 4096)
        return fail(err, errlen, LGMS_ERR_FORMAT, "input_size %dx%d must be multiples of 32 (32..4096)", m->input_width,
                    m->input_height);
    for (int c = 0; c < 3; c++)
        if (!(m->std[c] > 0)) return fail(err, errlen, LGMS_ERR_FORMAT, "std[%d] must be positive", c);
    int want_names = m->num_classes == 1 ? 1 : m->num_classes - 1;
    if (m->n_class_names == 0) {
        for (int c = 0; c < want_names; c++)
            snprintf(m->class_names[c], LGMS_NAME_MAX, "class%d", c + 1);
        m->n_class_names = want_names;
    } else if (m->n_class_names != want_names) {
        return fail(err, errlen, LGMS_ERR_FORMAT,
                    "classes names %d foreground classes but a %d-output head has %d (background is implicit)",
                    m->n_class_names, m->num_classes, want_names);
    }
    return LGMS_OK;
}

static int cmp_by_name(const void *a, const void *b, void *file) {
    const lgms_file *f = file;
    return strcmp(f->tensors[*(const int *)a].name, f->tensors[*(const int *)b].name);
}

/* Sort tensor indices by name (binary-search lookups) and refuse duplicate names. */
static lgms_status index_names(lgms_file *f, char *err, size_t errlen) {
    f->by_name = malloc(sizeof(int) * (size_t)f->n_tensors);
    if (!f->by_name) return fail(err, errlen, LGMS_ERR_NOMEM, "out of memory indexing the tensor table");
    for (int i = 0; i < f->n_tensors; i++)
        f->by_name[i] = i;
    qsort_r(f->by_name, (size_t)f->n_tensors, sizeof(int), cmp_by_name, f);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[f->by_name[i - 1]].name, f->tensors[f->by_name[i]].name))
            return fail(err, errlen, LGMS_ERR_FORMAT, "tensor %s appears twice", f->tensors[f->by_name[i]].name);
    return LGMS_OK;
}

lgms_status lgms_file_parse(const uint8_t *buf, size_t size, lgms_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (size < LGMS_FILE_HEADER_SIZE || memcmp(buf, LGMS_FILE_MAGIC, 8))
        return fail(err, errlen, LGMS_ERR_FORMAT, "not an lgms model file (bad magic or shorter than the header)");
    uint32_t version = rd32(buf + 8), count = rd32(buf + 12);
    uint64_t meta_off = rd64(buf + 16), meta_size = rd64(buf + 24), table_off = rd64(buf + 32),
             data_off = rd64(buf + 40), data_size = rd64(buf + 48);
    if (version != LGMS_FILE_VERSION)
        return fail(err, errlen, LGMS_ERR_FORMAT, "model file version %u is not supported (expected %d)", version,
                    LGMS_FILE_VERSION);
    if (count == 0 || count > 100000)
        return fail(err, errlen, LGMS_ERR_FORMAT, "tensor count %u is implausible", count);
    if (meta_off > size || meta_size > size - meta_off)
        return fail(err, errlen, LGMS_ERR_FORMAT, "metadata lies outside the file (truncated?)");
    if (table_off > size || (uint64_t)count * LGMS_FILE_ENTRY_SIZE > size - table_off)
        return fail(err, errlen, LGMS_ERR_FORMAT, "tensor table lies outside the file (truncated?)");
    if (data_off > size || data_size > size - data_off || data_off % LGMS_FILE_ALIGN)
        return fail(err, errlen, LGMS_ERR_FORMAT,
                    "tensor data lies outside the file or is not 64-byte aligned (truncated?)");
    lgms_status st = parse_meta((const char *)buf + meta_off, (size_t)meta_size, &f->meta, err, errlen);
    if (st) return st;
    f->tensors = calloc(count, sizeof *f->tensors);
    if (!f->tensors) return fail(err, errlen, LGMS_ERR_NOMEM, "out of memory reading the tensor table");
    f->n_tensors = (int)count;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = buf + table_off + (uint64_t)i * LGMS_FILE_ENTRY_SIZE;
        lgms_file_tensor *t = &f->tensors[i];
        if (!memchr(e, 0, LGMS_FILE_NAME_SIZE) || e[0] == 0) {
            st = fail(err, errlen, LGMS_ERR_FORMAT, "tensor %u has no valid name", i);
            break;
        }
        memcpy(t->name, e, LGMS_FILE_NAME_SIZE);
        t->dtype = (int)rd32(e + 88);
        t->ndim = (int)rd32(e + 92);
        uint64_t off = rd64(e + 120);
        if (t->dtype != LGMS_DTYPE_F32 && t->dtype != LGMS_DTYPE_F16) {
            st = fail(err, errlen, LGMS_ERR_FORMAT, "tensor %s has unknown dtype %d", t->name, t->dtype);
            break;
        }
        if (t->ndim < 0 || t->ndim > LGMS_FILE_MAX_DIMS) {
            st = fail(err, errlen, LGMS_ERR_FORMAT, "tensor %s has %d dimensions", t->name, t->ndim);
            break;
        }
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint32_t v = rd32(e + 96 + 4 * d);
            if (v == 0 || v > (1u << 28)) {
                st = fail(err, errlen, LGMS_ERR_FORMAT, "tensor %s has a bad dimension %u", t->name, v);
                break;
            }
            t->shape[d] = (int)v;
            numel *= v;
            if (numel > (1ull << 32)) {
                st = fail(err, errlen, LGMS_ERR_FORMAT, "tensor %s is implausibly large", t->name);
                break;
            }
        }
        if (st) break;
        uint64_t nbytes = numel * (t->dtype == LGMS_DTYPE_F32 ? 4 : 2);
        if (off % LGMS_FILE_ALIGN || off > data_size || nbytes > data_size - off) {
            st = fail(err, errlen, LGMS_ERR_FORMAT,
                      "tensor %s data lies outside the file or is misaligned (truncated?)", t->name);
            break;
        }
        t->numel = (size_t)numel;
        t->data = buf + data_off + off;
    }
    if (!st) st = index_names(f, err, errlen);
    if (st) lgms_file_release(f);
    return st;
}

void lgms_file_release(lgms_file *f) {
    free(f->tensors);
    free(f->by_name);
    f->tensors = NULL;
    f->by_name = NULL;
    f->n_tensors = 0;
}

lgms_file_tensor *lgms_file_find(lgms_file *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return &f->tensors[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0) {
        v = ldexpf((float)man, -24);
    } else if (exp == 31) {
        v = man ? NAN : INFINITY;
    } else {
        v = ldexpf((float)(man | 1024), (int)exp - 25);
    }
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bits |= sign;
    memcpy(&v, &bits, 4);
    return v;
}

void lgms_file_tensor_f32(const lgms_file_tensor *t, float *dst) {
    if (t->dtype == LGMS_DTYPE_F32) {
        memcpy(dst, t->data, t->numel * sizeof(float));
        return;
    }
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = half_to_float(h);
    }
}
