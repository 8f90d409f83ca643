/* auth.h - optional Bearer API keys, read from a file (one key a line, # comments). Each
 * key has an id (the first 16 hex digits of its SHA-256): what jobs record as their owner
 * and logs may show, never the key itself. */
#ifndef LGMSD_AUTH_H
#define LGMSD_AUTH_H

#include <stddef.h>

typedef struct {
    char **keys;
    char (*ids)[17];
    size_t n;
} lgmsd_keys;

/* 0, or -1 with err (unreadable file, or no key in it). */
int lgmsd_keys_load(lgmsd_keys *k, const char *path, char *err, size_t errlen);
void lgmsd_keys_free(lgmsd_keys *k);
/* The index of the key the Authorization header value carries (its id is k->ids[index]),
 * or -1. The comparison takes the same time whatever the first differing byte, and every
 * key is compared. */
int lgmsd_keys_check(const lgmsd_keys *k, const char *authorization);

#endif
