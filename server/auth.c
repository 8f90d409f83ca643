/* auth.c - API key file and constant-time Bearer check. */
#include "auth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lgmsd_keys_load(lgmsd_keys *k, const char *path, char *err, size_t errlen) {
    k->keys = NULL, k->ids = NULL, k->n = 0;
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
    k->ids = calloc(k->n, sizeof *k->ids);
    for (size_t i = 0; k->ids && i < k->n; i++) {
        unsigned char digest[32];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, k->keys[i], strlen(k->keys[i]), digest)) {
            free(k->ids);
            k->ids = NULL;
            break;
        }
        for (int b = 0; b < 8; b++)
            snprintf(k->ids[i] + 2 * b, 3, "%02x", digest[b]);
    }
    if (!k->ids) {
        lgmsd_keys_free(k);
        snprintf(err, errlen, "cannot derive key ids for api_key_file");
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
    free(k->ids);
    k->keys = NULL, k->ids = NULL, k->n = 0;
}

static int ct_equal(const char *given, size_t glen, const char *key) {
    size_t klen = strlen(key);
    unsigned diff = (unsigned)(glen ^ klen);
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

int lgmsd_keys_check(const lgmsd_keys *k, const char *authorization) {
    if (!authorization || strncasecmp(authorization, "Bearer ", 7)) return -1;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    int found = -1;
    for (size_t i = 0; i < k->n; i++)
        if (ct_equal(tok, len, k->keys[i])) found = (int)i;
    return found;
}
