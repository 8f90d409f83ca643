/* files.c - reading whole files. */
#include "files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lgmsd_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, char *err, size_t errlen) {
    *data = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap >= max_bytes) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max_bytes);
            return -1;
        }
        uint8_t *nb = realloc(buf, cap * 2 + 1);
        if (!nb) free(buf);
        buf = nb, cap *= 2;
    }
    int bad = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, bad ? strerror(bad) : "out of memory");
        return -1;
    }
    buf[n] = 0;
    *data = buf, *len = n;
    return 0;
}
