/* npy.c - minimal .npy (format versions 1-3) reader and writer for little-endian float32
 * C-order arrays; anything else is refused with a message. */
#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *msg, const char *path) {
    snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

/* Parse the shape tuple "(1, 3, 256, 256)" that follows 'shape': in the header dict. */
static int parse_shape(const char *hdr, npy_array *a) {
    const char *p = strstr(hdr, "'shape':");
    if (!p || !(p = strchr(p, '('))) return -1;
    p++;
    a->ndim = 0;
    a->numel = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')') break;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || a->ndim == NPY_MAX_DIMS || v > (1ull << 31)) return -1;
        a->shape[a->ndim++] = (size_t)v;
        if (v && a->numel > SIZE_MAX / 4 / v) return -1;
        a->numel *= (size_t)v;
        p = end;
    }
    return *p == ')' ? 0 : -1;
}

int npy_read(const char *path, npy_array *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, strerror(errno), path);
    unsigned char pre[10];
    int rc = -1;
    char *hdr = NULL;
    if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6)) {
        fail(err, errlen, "not a .npy file", path);
        goto out;
    }
    size_t hlen;
    if (pre[6] == 1) {
        unsigned char l[2];
        if (fread(l, 1, 2, f) != 2) goto trunc;
        hlen = l[0] | (size_t)l[1] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char l[4];
        if (fread(l, 1, 4, f) != 4) goto trunc;
        hlen = l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
        if (hlen > (1u << 20)) goto trunc;
    } else {
        fail(err, errlen, "unsupported .npy version", path);
        goto out;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, f) != hlen) goto trunc;
    hdr[hlen] = 0;
    if (!strstr(hdr, "'descr': '<f4'")) {
        fail(err, errlen, "array is not little-endian float32 ('<f4')", path);
        goto out;
    }
    if (!strstr(hdr, "'fortran_order': False")) {
        fail(err, errlen, "array is in Fortran order; save it C-contiguous", path);
        goto out;
    }
    if (parse_shape(hdr, a)) {
        fail(err, errlen, "cannot parse the array shape", path);
        goto out;
    }
    a->data = malloc(a->numel ? a->numel * sizeof(float) : 1);
    if (!a->data) {
        fail(err, errlen, "out of memory", path);
        goto out;
    }
    if (fread(a->data, sizeof(float), a->numel, f) != a->numel) goto trunc;
    rc = 0;
    goto out;
trunc:
    fail(err, errlen, "truncated or corrupt .npy file", path);
out:
    free(hdr);
    fclose(f);
    if (rc) npy_free(a);
    return rc;
}

int npy_write(const char *path, const npy_array *a, char *err, size_t errlen) {
    char dict[256], shape[160] = "";
    for (int i = 0; i < a->ndim; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%zu%s", a->shape[i],
                 a->ndim == 1 ? "," : (i + 1 < a->ndim ? ", " : ""));
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    FILE *f = fopen(path, "wb");
    if (!f) return fail(err, errlen, strerror(errno), path);
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 255), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF && fwrite(a->data, sizeof(float), a->numel, f) == a->numel;
    if (fclose(f) || !ok) return fail(err, errlen, "write failed", path);
    return 0;
}

void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}
