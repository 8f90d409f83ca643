/* auth.c - API key file and constant-time Bearer check. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lgmsd_keys_load(lgmsd_keys *k, const char *path, char *err, size_t errlen) {
    k->keys = NULL, k->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read api_key_file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e;
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        if (!*s || *s == '#') continue;
        char **nk = realloc(k->keys, (k->n + 1) * sizeof *nk);
        if (!nk || !(nk[k->n] = strdup(s))) {
            if (nk) k->keys = nk;
            fclose(f);
            lgmsd_keys_free(k);
            snprintf(err, errlen, "out of memory reading api_key_file");
            return -1;
        }
        k->keys = nk;
        k->n++;
    }
    fclose(f);
    if (!k->n) {
        snprintf(err, errlen, "api_key_file %s holds no key", path);
        return -1;
    }
    return 0;
}

void lgmsd_keys_free(lgmsd_keys *k) {
    for (size_t i = 0; i < k->n; i++) {
        memset(k->keys[i], 0, strlen(k->keys[i]));
        free(k->keys[i]);
    }
    free(k->keys);
    k->keys = NULL, k->n = 0;
}

static int ct_equal(const char *given, size_t glen, const char *key) {
    size_t klen = strlen(key);
    unsigned diff = (unsigned)(glen ^ klen);
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

int lgmsd_keys_check(const lgmsd_keys *k, const char *authorization) {
    if (!authorization || strncasecmp(authorization, "Bearer ", 7)) return 0;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    int ok = 0;
    for (size_t i = 0; i < k->n; i++)
        ok |= ct_equal(tok, len, k->keys[i]);
    return ok;
}
